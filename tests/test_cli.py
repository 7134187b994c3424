"""`naos render` as a user runs it: real Dagster runs, real ffmpeg, exit codes, determinism and resume."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import DRAFT_VOICES
from frames import mouth_checks

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "examples" / "pilot"
OUTPUTS = ["EpisodePlan.json", "Canon.json", "CanonDiff.json", "ContextPack.json", "Script.json", "GateReport.json",
           "VoiceOver.json", "ShotList.json", "AssetManifest.json", "RecordingPacket.json", "RecordingPacket.csv",
           "RenderPlan.json", "EpisodeAudio.json", "RenderOutput.json", "episode.mp4", "episode.srt", "episode.vtt",
           "episode.m4a", "credits.txt"]
GOLDEN = ROOT / "tests" / "golden" / "s01e01.sha256.json"


def naos(*args: str, home: Path, timeout: float = 600, default_voices: bool = False) -> subprocess.CompletedProcess:
    """`naos ARGS` in a subprocess; with the suite's draft voices (espeak-ng, no listening test, tests/conftest.py)
    unless `default_voices`: then as a user runs it, Kokoro heard back by Whisper."""
    drop = {"DAGSTER_HOME", *(DRAFT_VOICES if default_voices else ())}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["NAOS_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in OUTPUTS}


def render(project: Path, out: Path, home: Path, episode: str = "s01e01",
           default_voices: bool = False) -> subprocess.CompletedProcess:
    return naos("render", "--project", str(project), "--episode", episode, "--out", str(out), home=home,
                default_voices=default_voices)


@pytest.fixture(scope="module")
def first_render(tmp_path_factory):
    """The pilot's s01e01 as `make demo` renders it: the default voices (Kokoro) and the listening test."""
    base = tmp_path_factory.mktemp("golden")
    result = render(PILOT / "project.yaml", base / "out", base / "home", default_voices=True)
    assert result.returncode == 0, result.stderr
    return base


def test_render_writes_every_artifact(first_render):
    out = first_render / "out"
    for name in [*OUTPUTS, "run_summary.json"]:
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "success" and summary["exit_code"] == 0
    stages = {s["stage"] for s in summary["stages"]}
    assert {"script", "shot_list", "asset_manifest", "render_plan", "render_output"} <= stages
    shot_steps = [s for s in stages if s.startswith("shot_clips.render_shot_clip[")]
    shot_list = json.loads((out / "ShotList.json").read_text())
    assert len(shot_steps) == len(shot_list["shots"]) <= 10
    output = json.loads((out / "RenderOutput.json").read_text())
    assert output["video"]["sha256"] == digests(out)["episode.mp4"]
    assert output["placeholders"] == []  # s01e01's locations are all in the library
    # the video's lineage is in the registry records (and Dagster's naos/parents), not in the artifacts' bytes
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    from io_managers import Registry, site_id

    registry, made = Registry.local(first_render / "home" / "artifacts"), digests(out)
    assert "lineage" not in output
    video = registry.get_record("render_output", "s01e01", hashlib.sha256((out / "RenderOutput.json").read_bytes())
                                .hexdigest())
    assert video["parents"]["shot_list"] == made["ShotList.json"]
    assert registry.get_record("shot_list", "s01e01", made["ShotList.json"])["parents"]["script"] == made["Script.json"]
    # §35.1: the site is on every run and every artifact record
    record = registry.get_record("script", "s01e01", made["Script.json"])
    assert record["site_id"] == site_id()
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(first_render / "home" / "dagster")))
    assert {r.tags.get("naos/site_id") for r in instance.get_runs()} == {site_id()}


def test_render_is_voiced_mixed_and_checked(first_render):
    """Voices before the lock (slots = real takes), two speakers with distinct pitch, the mix at -16 LUFS, captions
    in sync, an audiobook with a chapter per scene, a recording packet per line."""
    import av

    from engines.audio.tts import estimate_f0
    from io_managers import Registry

    out = first_render / "out"
    voice = json.loads((out / "VoiceOver.json").read_text())
    shots = json.loads((out / "ShotList.json").read_text())["shots"]
    slots = {ln["line_id"]: round(ln["end_s"] - ln["start_s"], 3) for s in shots for ln in s["lines"]}
    assert voice["voiced"] and voice["engine"].startswith("kokoro (kokoro-onnx 0.6.1/onnxruntime 1.32.0")
    assert {t["line_id"]: t["duration_s"] for t in voice["takes"]} == slots  # the lock reflects real speech
    # a voice per character, as the project casts them (Inês cast automatically), named on every take
    assert {t["speaker_id"]: t["voice"] for t in voice["takes"]} == {"mara": "bf_emma", "tobias": "bm_george",
                                                                     "ines": "af_heart"}
    assert all(t["engine"] == "kokoro" and t["model"] == "kokoro-v1.0.int8 6e742170d309" for t in voice["takes"])
    # the project's pronunciations and numbers in words, and the listening test heard every line
    spoken = {t["line_id"]: t["spoken"] for t in voice["takes"]}
    assert "since eighteen sixty-eight" in spoken["sc02_l002"] and spoken["sc03_l001"].startswith("Inesh, his coat")
    assert voice["listening"]["recognizer"].startswith("faster-whisper 1.2.1/")
    assert all(t["listening"]["wer"] <= 0.25 for t in voice["takes"]), [t["listening"] for t in voice["takes"]]
    assert voice["listening"]["over"] == [] and voice["unknown_names"] == []
    registry = Registry.local(first_render / "home" / "artifacts")
    take = voice["takes"][0]  # the take's registry record names who spoke it
    params = registry.get_record("voice_over/take", "s01e01", take["sha256"])["params"]
    assert (params["engine"], params["model"], params["voice"]) == ("kokoro", take["model"], "bf_emma")
    pitch = {t["speaker_id"]: estimate_f0(registry.get_bytes(t["sha256"])) for t in voice["takes"]}
    assert pitch["tobias"] < 150 < pitch["mara"], pitch  # the keeper's low voice, Mara's high one

    output = json.loads((out / "RenderOutput.json").read_text())
    checks = {q["name"]: q for q in output["quality_checks"]}
    assert set(checks) == {"caption_sync", "loudness", "runtime", "missing_assets"}
    assert all(q["passed"] for q in checks.values()), checks
    audio = json.loads((out / "EpisodeAudio.json").read_text())
    assert abs(audio["loudness"]["integrated_lufs"] + 16) <= 1 and audio["loudness"]["true_peak_db"] <= -0.9
    assert len(audio["placements"]) == len(slots)

    # the knock on the door: an sfx tag of the shot list, found in the library (with its licence), in the mix
    manifest = json.loads((out / "AssetManifest.json").read_text())
    assert [n["asset_id"] for n in manifest["sfx"]] == ["sfx:door"]
    door = next(a for a in json.loads((out / "RenderPlan.json").read_text())["assets"] if a["asset_id"] == "sfx:door")
    assert (door["status"], door["license_type"]) == ("resolved", "generated_local")

    bed = next(a for a in json.loads((out / "RenderPlan.json").read_text())["assets"] if a["asset_id"] == "music:bed")
    assert (bed["status"], bed["license_type"]) == ("resolved", "generated_local")
    assert audio["music_bed"] == "library:music/sea_theme.wav"

    vtt = (out / "episode.vtt").read_text()
    assert vtt.startswith("WEBVTT") and vtt.count(" --> ") == (out / "episode.srt").read_text().count(" --> ") == 5
    with av.open(str(out / "episode.m4a")) as m4a:
        chapters = m4a.chapters()
        assert [c["metadata"].get("title") for c in chapters] == [
            "Gull Point Lighthouse, day 1, dusk", "Gull Point Harbour, day 1, midnight",
            "Gull Point Lighthouse, day 2, dawn"]
        assert m4a.metadata.get("album") == "The Lamp at Gull Point"
    rows = (out / "RecordingPacket.csv").read_text().splitlines()
    assert rows[0].startswith("speaker_id,speaker_name,line_id,shot_id") and len(rows) == 1 + len(slots)
    with av.open(str(out / "episode.mp4")) as mp4:
        assert [s.type for s in mp4.streams] == ["video", "audio"]
    # the gates ran as Dagster asset checks and are in the run summary too
    summary = json.loads((out / "run_summary.json").read_text())
    assert {q["name"]: q["passed"] for q in summary["quality_checks"]} == {**{name: True for name in checks},
                                                                           "rights": True, "listening_test": True}
    assert [row["line_id"] for row in summary["listening"]] == [t["line_id"] for t in voice["takes"]]
    output = json.loads((out / "RenderOutput.json").read_text())
    assert output["rights"] == {"passed": True, "issues": [], "attributions": [], "override": None}
    assert output["end_card_s"] == 4.0  # the series and the episode; no CC-BY asset, so no credits on it
    credits = (out / "credits.txt").read_text()
    assert "background:harbor: generated_local" in credits
    assert "Mara Quill: synthetic voice bf_emma (kokoro, kokoro-v1.0.int8 6e742170d309); Kokoro-82M" in credits


def test_kokoro_render_is_byte_identical_on_this_machine(first_render, tmp_path):
    """A second NAOS_HOME renders the same bytes with the default voices. Kokoro's int8 maths may differ on another
    CPU type (docs/DETERMINISM.md), so this is a same-machine promise; the golden hashes below use espeak-ng."""
    again = render(PILOT / "project.yaml", tmp_path / "out", tmp_path / "home", default_voices=True)
    assert again.returncode == 0, again.stderr
    assert digests(first_render / "out") == digests(tmp_path / "out")


def test_golden_render_is_byte_identical(tmp_path):
    """Seed §28.1 golden render, with the voices that give the same bytes on every machine (espeak-ng, the draft
    engine): it matches the recorded hashes."""
    again = render(PILOT / "project.yaml", tmp_path / "out", tmp_path / "home")
    assert again.returncode == 0, again.stderr
    second = digests(tmp_path / "out")
    expected = json.loads(GOLDEN.read_text())
    assert second == expected, (
        "the golden render changed; if the change is intended (bump RENDERER_VERSION when the video changes), "
        f"rewrite {GOLDEN.relative_to(ROOT)} with the new hashes")


def test_speakers_talk_in_the_pilot(first_render):
    """A viewer's check of the pilot's frames: in every static dialogue shot the speaker's mouth box holds still
    before the line and moves while it plays (pixels measured in the decoded episode.mp4)."""
    checks = mouth_checks(first_render / "out", PILOT / "library", first_render / "home")
    assert len(checks) >= 3, checks
    for c in checks:
        assert c.before < 2.0 and c.during > 8.0, c


def test_standard_profile_changes_only_the_render_plan(first_render):
    """`--profile standard_local`: 1080p with richer camera motion, the speakers still talking; Script, ShotList,
    canon and the voice-over are the preview's, byte for byte (§11: a profile is a RenderPlan choice)."""
    import av

    out = first_render / "standard"
    result = naos("render", "--project", str(PILOT / "project.yaml"), "--episode", "s01e01", "--profile",
                  "standard_local", "--out", str(out), home=first_render / "home", default_voices=True)
    assert result.returncode == 0, result.stderr
    preview = first_render / "out"
    for name in ("Script.json", "ShotList.json", "Canon.json", "CanonDiff.json", "VoiceOver.json", "episode.srt"):
        assert (out / name).read_bytes() == (preview / name).read_bytes(), name
    plan = json.loads((out / "RenderPlan.json").read_text())
    assert (plan["profile"], plan["width"], plan["height"]) == ("standard_local", 1920, 1080)
    with av.open(str(out / "episode.mp4")) as mp4:
        assert (mp4.streams.video[0].width, mp4.streams.video[0].height) == (1920, 1080)
    checks = mouth_checks(out, PILOT / "library", first_render / "home")
    assert checks and all(c.before < 2.0 and c.during > 8.0 for c in checks), checks


def test_rerun_is_all_cache_hits(first_render):
    out = first_render / "rerun"
    result = render(PILOT / "project.yaml", out, first_render / "home", default_voices=True)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["cache_misses"] <= 1  # render_plan re-reads the library every run
    assert all(summary["shot_cache"].values()) and summary["shot_cache"]
    assert digests(out) == digests(first_render / "out")


def test_placeholder_is_flagged_and_run_completes(tmp_path):
    """s01e02, with the seed's default approve_canon_diff: true (the pilot turns it off), and no generated stand-ins:
    the run pauses for the CanonDiff's approval; once approved, the missing sea cave becomes a flagged placeholder."""
    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: (d["human_checkpoints"].update(approve_canon_diff=True),
                                                    d.update(assets={"generate_missing": False})))
    result = render(project / "project.yaml", tmp_path / "out", tmp_path / "home", episode="s01e02")
    assert result.returncode == 5, result.stderr
    assert "approve_canon_diff: waiting for approval" in result.stderr
    # the canon of s01e02 folds s01e01's diff: the CLI ran s01e01 through the Canon Gate first; it passed, and
    # waits for approval, so s01e02's canon does not include it yet
    assert "canon: checking s01e01 (1/1) before s01e02" in result.stderr
    assert "the CanonDiffs of s01e01 await approval" in result.stderr
    approve = naos("approve", "--project", str(project / "project.yaml"), "--episode", "s01e02", "--checkpoint",
                   "approve_canon_diff", "--by", "story editor", home=tmp_path / "home")
    assert approve.returncode == 0, approve.stderr
    result = render(project / "project.yaml", tmp_path / "out", tmp_path / "home", episode="s01e02")
    assert result.returncode == 0, result.stderr
    canon = json.loads((tmp_path / "out" / "Canon.json").read_text())
    assert canon["as_of_episode"] == "s01e02" and canon["applied_diffs"] == []
    # the approval reached the Canon Store: s01e03's canon will fold s01e02's diff
    assert json.loads((tmp_path / "out" / "GateReport.json").read_text())["approval_status"] == "approved"
    plan = json.loads((tmp_path / "out" / "RenderPlan.json").read_text())
    cave = next(a for a in plan["assets"] if a["asset_id"] == "background:sea_cave")
    assert cave["status"] == "placeholder" and cave["flagged"] and cave["fallbacks"]
    output = json.loads((tmp_path / "out" / "RenderOutput.json").read_text())
    assert "background:sea_cave" in output["placeholders"]


def test_canon_contradiction_exits_3_and_writes_no_video(tmp_path):
    """A death in s01e02 (in its last scene) followed by dialogue in s01e03: blocked at the gate."""
    project = _copy_pilot(tmp_path)
    outline = project / "episodes" / "s01e02.yaml"
    data = yaml.safe_load(outline.read_text())
    data["new_facts"].append({"subject": "mara", "attribute": "status", "value": "dead", "scene": "sc03"})
    data["scenes"][2]["characters"].remove("mara")
    data["scenes"][2]["beats"] = [b for b in data["scenes"][2]["beats"] if b.get("speaker") != "mara"]
    outline.write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    result = render(project / "project.yaml", out, tmp_path / "home", episode="s01e03")
    assert result.returncode == 3, result.stderr
    assert "s01e03 sc01: dead_character_appears" in result.stderr
    assert ("s01e03 sc01 beat 2: dead_character_speaks: " in result.stderr
            and '[canon: mara.status = "dead" (s01e02/sc03)]' in result.stderr), result.stderr
    assert not (out / "episode.mp4").exists() and not (out / "RenderOutput.json").exists()
    summary = json.loads((out / "run_summary.json").read_text())
    assert (summary["status"], summary["exit_code"]) == ("blocked", 3)
    # the block is an alert too (docs/OPERATIONS.md), with a deep link to the run
    [alert] = [json.loads(line) for line in (tmp_path / "home" / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert (alert["alert_type"], alert["stage"], alert["run_id"]) == ("canon_blocked", "canon_gate", summary["run_id"])
    assert alert["link"].endswith(f"/runs/{summary['run_id']}") and alert["episode_id"] == "s01e03"


def test_validate_runs_the_season_through_the_gate(tmp_path):
    result = naos("validate", "--project", str(PILOT / "project.yaml"), home=tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "s01e03: passed (0 contradiction(s), 1 warning(s))" in result.stderr
    assert "warning: s01e03: open_promise:" in result.stderr and "torn-page" in result.stderr
    assert not (tmp_path / "home").exists(), "validate writes nothing"

    project = _copy_pilot(tmp_path)
    outline = project / "episodes" / "s01e05.yaml"
    data = yaml.safe_load(outline.read_text())
    data["scenes"][0]["characters"].append("tobias")  # the keeper died in s01e04
    outline.write_text(yaml.safe_dump(data, sort_keys=False))
    result = naos("validate", "--project", str(project / "project.yaml"), home=tmp_path / "home")
    assert result.returncode == 3, result.stderr
    assert "s01e05: blocked (1 contradiction(s), 0 warning(s))" in result.stderr
    assert ('error: s01e05 sc01: dead_character_appears: ' in result.stderr
            and '[canon: tobias.status = "dead" (s01e04/sc03)]' in result.stderr), result.stderr


# ---- bad input: exit 2, an error naming file and field, nothing written to the registry -----------------


def _copy_pilot(tmp_path: Path) -> Path:
    dest = tmp_path / "pilot"
    shutil.copytree(PILOT / "episodes", dest / "episodes")
    shutil.copy(PILOT / "project.yaml", dest / "project.yaml")
    shutil.copy(PILOT / "arc.yaml", dest / "arc.yaml")
    (dest / "library").symlink_to(PILOT / "library", target_is_directory=True)
    return dest


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _unknown_speaker(d):
    d["scenes"][0]["beats"][2]["speaker"] = "nobody"


def _fact_in_unknown_scene(d):
    d["new_facts"][0]["scene"] = "sc09"


def _negative_duration(d):
    d["target_duration_s"]["min"] = -5


def _escaping_asset(d):
    d["locations"][0]["background"] = "../../../etc/passwd"


def _wrong_major(d):
    d["schema_version"] = "2.0.0"


def _missing_outline(d):
    d["episodes"][0]["outline"] = "episodes/nope.yaml"


BAD = [
    ("malformed yaml", "episodes/s01e01.yaml", None, "s01e01.yaml", "malformed YAML"),
    ("unknown speaker", "episodes/s01e01.yaml", _unknown_speaker, "s01e01.yaml", "scenes[0].beats[2].speaker"),
    ("fact in an unknown scene", "episodes/s01e01.yaml", _fact_in_unknown_scene, "s01e01.yaml", "new_facts[0].scene"),
    ("missing outline", "project.yaml", _missing_outline, "nope.yaml", "file not found"),
    ("negative duration", "project.yaml", _negative_duration, "project.yaml", "target_duration_s.min"),
    ("asset path escapes library", "project.yaml", _escaping_asset, "project.yaml", "locations[0].background"),
    ("wrong schema_version", "episodes/s01e01.yaml", _wrong_major, "s01e01.yaml", "migrate"),
]


@pytest.mark.parametrize(("case", "file", "change", "named_file", "named_field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, case, file, change, named_file, named_field):
    project = _copy_pilot(tmp_path)
    if change is None:
        (project / file).write_text("scenes: [unclosed\n  - : :\n")
    else:
        _edit_yaml(project / file, change)
    home = tmp_path / "home"
    result = render(project / "project.yaml", tmp_path / "out", home)
    assert result.returncode == 2, result.stderr
    assert named_file in result.stderr and named_field in result.stderr, result.stderr
    assert not (home / "artifacts").exists() or not any((home / "artifacts").rglob("objects/*"))
    assert not (tmp_path / "out" / "episode.mp4").exists()


def test_symlink_out_of_library_is_refused(tmp_path):
    project = _copy_pilot(tmp_path)
    (project / "library").unlink()
    shutil.copytree(PILOT / "library", project / "library")
    outside = tmp_path / "secret.png"
    outside.write_bytes((PILOT / "library" / "backgrounds" / "harbor.png").read_bytes())
    (project / "library" / "backgrounds" / "harbor.png").unlink()
    (project / "library" / "backgrounds" / "harbor.png").symlink_to(outside)
    result = render(project / "project.yaml", tmp_path / "out", tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "project.yaml" in result.stderr and "background" in result.stderr


def test_unknown_episode_exits_2(tmp_path):
    result = render(PILOT / "project.yaml", tmp_path / "out", tmp_path / "home", episode="s09e09")
    assert result.returncode == 2 and "s09e09" in result.stderr


# ---- resume: kill mid-run, run again, continue from checkpoints, identical end --------------------------


def test_killed_render_resumes_and_ends_identical(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["NAOS_HOME"] = str(home)
    cmd = [sys.executable, "-m", "naos_assets.cli", "render", "--project", str(PILOT / "project.yaml"),
           "--episode", "s01e01", "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    records = home / "artifacts" / "records" / "shot_clip" / "s01e01"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(records.glob("*.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(records.glob("*.json")))
    assert 2 <= done_before < 10, "the kill should land mid-way through the shots"
    assert not (tmp_path / "out" / "episode.mp4").exists()

    result = render(PILOT / "project.yaml", tmp_path / "out", home)
    assert result.returncode == 0, result.stderr
    # the killed run was left "started", holding a cpu_queue slot: the next naos marks it failed and frees the slot
    assert "was left started by a killed naos" in result.stderr
    from dagster import DagsterInstance, DagsterRunStatus
    from dagster._core.instance.ref import InstanceRef

    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    statuses = sorted(r.status.value for r in instance.get_runs() if r.job_name == "render_episode")
    assert statuses == [DagsterRunStatus.FAILURE.value, DagsterRunStatus.SUCCESS.value]
    assert instance.event_log_storage.get_concurrency_info("cpu_queue").active_slot_count == 0
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert sum(summary["shot_cache"].values()) >= done_before  # finished shots were not rendered again
    assert digests(tmp_path / "out") == json.loads(GOLDEN.read_text())  # the draft voices' golden render


def test_pipeline_failure_exits_4_with_the_failed_step_in_the_summary(tmp_path):
    """An image that ffmpeg cannot decode fails its shot step (after its retries): exit 4, no mp4."""
    project = _copy_pilot(tmp_path)
    (project / "library").unlink()
    shutil.copytree(PILOT / "library", project / "library")
    (project / "library" / "backgrounds" / "harbor.png").write_bytes(b"this is not a png")
    result = render(project / "project.yaml", tmp_path / "out", tmp_path / "home")
    assert result.returncode == 4, result.stderr
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert summary["status"] == "failure" and summary["exit_code"] == 4
    failed = [e["stage"] for e in summary["errors"]]
    assert failed and all(s.startswith("shot_clips.render_shot_clip[sc02_") for s in failed), failed
    assert "library:backgrounds/harbor.png" in result.stderr and "Invalid PNG" in result.stderr
    assert not (tmp_path / "out" / "episode.mp4").exists()
