"""The audio stage in the pipeline: no-voice mode without espeak-ng, and a take too long for its locked slot fails
the mix with the shot named (a QA failure), nothing rendered after it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from dagster import AssetSelection, DagsterInstance, materialize

from engines.audio import tts
from engines.audio.voice import voice_over
from engines.film import plan_shots
from io_managers import Registry
from naos_assets.definitions import ASSETS
from naos_assets.definitions import resources as naos_resources
from naos_assets.partitions import episodes

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "examples" / "pilot"


def test_no_voice_mode_estimates_and_says_how_to_install(monkeypatch, pilot, tmp_path):
    ep = pilot["s01e01"]
    monkeypatch.setenv("PATH", "/nonexistent")  # no espeak-ng, no flite
    monkeypatch.setenv("NAOS_KOKORO_VOICES", str(tmp_path / "none.npz"))  # no Kokoro voices
    assert not tts.available()
    vo = voice_over(ep.script, ep.project, lambda key: None, lambda key, wav: "unused")
    assert (vo.voiced, vo.engine) == (False, "none")
    assert [t.source for t in vo.takes] == ["estimate"] * 5 and all(t.sha256 is None for t in vo.takes)
    # the planner still sizes shots (from the estimates); captions are still produced downstream
    shots = plan_shots(ep.script, {t.line_id: t.duration_s for t in vo.takes})
    assert sum(len(s.lines) for s in shots.shots) == 5
    assert "apt-get install flite espeak-ng" in tts.INSTALL_HINT and "make install" in tts.INSTALL_HINT
    assert vo.warnings == [tts.INSTALL_HINT]


def test_take_longer_than_its_locked_slot_fails_the_mix_naming_the_shot(tmp_path):
    """Narration on, and the author holds the opening beat 1 s: the narrator's take cannot fit even at +10 %."""
    dest = tmp_path / "pilot"
    shutil.copytree(PILOT, dest)
    project = yaml.safe_load((dest / "project.yaml").read_text())
    project["audio"]["narration"] = True
    (dest / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    outline_file = dest / "episodes" / "s01e01.yaml"
    outline = yaml.safe_load(outline_file.read_text())
    outline["scenes"][0]["beats"][0]["duration_s"] = 1
    outline_file.write_text(yaml.safe_dump(outline, sort_keys=False))

    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(episodes.name, ["s01e01"])
    selection = AssetSelection.assets("episode_audio").upstream()
    result = materialize(ASSETS, instance=instance, partition_key="s01e01", selection=selection,
                         resources=naos_resources(str(dest / "project.yaml"), str(tmp_path / "home")),
                         raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "episode_audio"
    data = failure.event_specific_data.user_failure_data
    assert data.description.startswith("QA: shot sc01_sh01: line sc01_n001 needs ")
    assert "its slot is 0.00 s" not in data.description and "the limit is 10 %" in data.description
    assert data.metadata["shot_id"].value == "sc01_sh01"
    registry = Registry.local(tmp_path / "home" / "artifacts")
    assert registry.get_ref("voice_over", "s01e01") is not None
    assert registry.get_ref("episode_audio", "s01e01") is None


def test_season_audiobook_has_a_chapter_per_episode(tmp_path):
    """A two-episode season: `naos audiobook` refuses until both are rendered, then writes one .m4b."""
    import json
    import os
    import subprocess
    import sys

    import av

    dest = tmp_path / "pilot"
    shutil.copytree(PILOT, dest)
    project = yaml.safe_load((dest / "project.yaml").read_text())
    project["episodes"] = project["episodes"][:2]
    del project["story_arc"]  # its beats name all six episodes
    (dest / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"} | {"NAOS_HOME": str(tmp_path / "home")}

    def naos(*args):
        return subprocess.run([sys.executable, "-m", "naos_assets.cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)

    early = naos("audiobook", "--project", str(dest / "project.yaml"), "--out", str(tmp_path / "book"))
    assert early.returncode == 4 and "not yet: s01e01, s01e02" in early.stderr, early.stderr
    for episode in ("s01e01", "s01e02"):
        done = naos("render", "--project", str(dest / "project.yaml"), "--episode", episode,
                    "--out", str(tmp_path / episode))
        assert done.returncode == 0, done.stderr
    book = naos("audiobook", "--project", str(dest / "project.yaml"), "--out", str(tmp_path / "book"))
    assert book.returncode == 0, book.stderr
    meta = json.loads((tmp_path / "book" / "SeasonAudiobook.json").read_text())
    with av.open(str(tmp_path / "book" / "season.m4b")) as m4b:
        chapters = m4b.chapters()
        assert [c["metadata"].get("title") for c in chapters] == ["s01e01", "s01e02"]
        assert m4b.metadata.get("album") == "The Lamp at Gull Point"
    assert [c["title"] for c in meta["chapters"]] == ["s01e01", "s01e02"]
    durations = [json.loads((tmp_path / e / "RenderOutput.json").read_text())["duration_s"] for e in ("s01e01", "s01e02")]
    assert meta["chapters"][1]["start_s"] == durations[0]
