"""Film engine on examples/pilot: shot planning, the timing lock, the asset manifest; writing+film are deterministic."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
import yaml

from engines.film import build_manifest, plan_shots, timing_lock_hash
from schemas import AudioIntent
from schemas.artifacts import Framing, Movement

ROOT = Path(__file__).resolve().parent.parent
PILOT_PROJECT = ROOT / "examples" / "pilot" / "project.yaml"
EPISODES = [f"s01e{n:02d}" for n in range(1, 7)]
FRAMINGS = set(get_args(Framing))
MOVEMENTS = set(get_args(Movement))


def dialogue(script) -> list:
    return [el for scene in script.scenes for el in scene.elements if el.kind == "dialogue"]


def custom_project(tmp_path: Path, edit) -> Path:
    """A copy of the pilot project whose s01e01 outline went through `edit(outline_dict)`."""
    project_file = tmp_path / "project.yaml"
    project_file.write_text(PILOT_PROJECT.read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copy(PILOT_PROJECT.parent / "arc.yaml", tmp_path / "arc.yaml")
    shutil.copytree(PILOT_PROJECT.parent / "episodes", tmp_path / "episodes")
    outline = yaml.safe_load((PILOT_PROJECT.parent / "episodes" / "s01e01.yaml").read_text(encoding="utf-8"))
    edit(outline)
    (tmp_path / "episodes" / "s01e01.yaml").write_text(yaml.safe_dump(outline, sort_keys=False), encoding="utf-8")
    return project_file


def test_pilot_has_the_expected_episodes(pilot):
    assert sorted(pilot) == EPISODES


# ---- shots --------------------------------------------------------------------------------------


@pytest.mark.parametrize("episode", EPISODES)
def test_every_shot_is_complete(episode: str, pilot):
    for shot in pilot[episode].shot_list.shots:
        assert shot.duration_s > 0, shot.id
        assert shot.framing in FRAMINGS, shot.id
        assert shot.movement in MOVEMENTS, shot.id
        assert isinstance(shot.audio_intent, AudioIntent), shot.id
        assert shot.audio_intent.music_mood, shot.id
        assert shot.audio_intent.vo_refs == [line.line_id for line in shot.lines], shot.id
        assert shot.lines or shot.action_beats or shot.template == "establishing", shot.id


@pytest.mark.parametrize("episode", EPISODES)
def test_shot_count_and_total_in_target_window(episode: str, pilot):
    ep = pilot[episode]
    shots = ep.shot_list.shots
    window = ep.project.target_duration_s
    assert (window.min, window.max) == (30, 90)
    assert 6 <= len(shots) <= 12
    assert window.min <= ep.shot_list.total_duration_s <= window.max


@pytest.mark.parametrize("episode", EPISODES)
def test_ids_order_and_total(episode: str, pilot):
    ep = pilot[episode]
    shots = ep.shot_list.shots
    assert len({s.id for s in shots}) == len(shots)
    assert [s.index for s in shots] == list(range(len(shots)))
    assert ep.shot_list.total_duration_s == pytest.approx(sum(s.duration_s for s in shots), abs=1e-9)
    assert ep.shot_list.episode_id == episode
    assert "script_sha256" not in ep.shot_list.model_dump()  # content, not lineage: the registry record has it
    # scenes keep the script's order, each opening on an establishing shot of its location
    scene_order = [s.scene_id for s in shots]
    assert list(dict.fromkeys(scene_order)) == [sc.id for sc in ep.script.scenes]
    for scene in ep.script.scenes:
        first = next(s for s in shots if s.scene_id == scene.id)
        assert first.framing == "establishing"
        assert all(s.environment == scene.location_id for s in shots if s.scene_id == scene.id)


@pytest.mark.parametrize("episode", EPISODES)
def test_durations_are_whole_frames(episode: str, pilot):
    # durations are half seconds: whole frames at the project's fps and the other even rates
    fps_rates = {24, 30, 48, 60} | {prof.fps for prof in pilot[episode].project.render_profiles.values()}
    for shot in pilot[episode].shot_list.shots:
        assert (shot.duration_s * 2).is_integer(), shot.id
        for fps in sorted(fps_rates):
            frames = shot.duration_s * fps
            assert frames == pytest.approx(round(frames), abs=1e-9), (shot.id, fps)


@pytest.mark.parametrize("episode", EPISODES)
def test_lines_fit_their_shot(episode: str, pilot):
    lines = 0
    for shot in pilot[episode].shot_list.shots:
        for line in shot.lines:
            lines += 1
            assert 0 <= line.start_s < line.end_s <= shot.duration_s, shot.id
            assert line.speaker_id in shot.characters, shot.id
            assert shot.expressions.get(line.speaker_id) == line.emotion
    assert lines == len(dialogue(pilot[episode].script)) > 0


@pytest.mark.parametrize("episode", EPISODES)
def test_episode_opens_on_people_and_every_line_carries_its_takes_mouth(episode: str, pilot):
    ep = pilot[episode]
    shots = ep.shot_list.shots
    assert shots[0].characters == ep.script.scenes[0].characters  # never an empty opening shot
    # a name tag on each character's first appearance, once
    names = {c.id: c.name for c in ep.project.characters}
    tagged = [c for s in shots for c in s.introduces]
    assert tagged == list(dict.fromkeys(c for s in shots for c in s.characters))
    assert all(s.introduces[c] == names[c] for s in shots for c in s.introduces)
    for shot in shots:
        for line in shot.lines:
            take = ep.voice_over.take(line.line_id)
            assert take is not None and line.mouth == take.mouth, line.line_id
            # one level per 40 ms of the take, closed and open both present in any spoken line
            assert len(line.mouth) == pytest.approx(take.duration_s * 25, abs=1), line.line_id
            assert {"0", "2"} <= set(line.mouth), (line.line_id, line.mouth)


@pytest.mark.parametrize("episode", EPISODES)
def test_every_script_element_is_on_screen_once(episode: str, pilot):
    ep = pilot[episode]
    actions = [el.text for sc in ep.script.scenes for el in sc.elements if el.kind == "action"]
    assert [t for s in ep.shot_list.shots for t in s.action_beats] == actions
    assert [ln.line_id for s in ep.shot_list.shots for ln in s.lines] == [el.line_id for el in dialogue(ep.script)]


def _hold(index: int, seconds: float):
    def edit(outline: dict) -> None:
        outline["scenes"][0]["beats"][index]["duration_s"] = seconds
    return edit


@pytest.mark.parametrize(("index", "shot_id", "template"), [(1, "sc01_sh02", "action"),
                                                             (0, "sc01_sh01", "establishing")])
def test_action_hold_sets_shot_duration(tmp_path: Path, pipeline, index: int, shot_id: str, template: str):
    ep = pipeline("s01e01", custom_project(tmp_path, _hold(index, 20)))
    shot = next(s for s in ep.shot_list.shots if s.id == shot_id)
    assert shot.template == template
    assert shot.duration_s == 20
    assert ep.shot_list.total_duration_s == pytest.approx(sum(s.duration_s for s in ep.shot_list.shots))


def test_hold_is_rounded_up_to_half_seconds(tmp_path: Path, pipeline):
    ep = pipeline("s01e01", custom_project(tmp_path, _hold(1, 2.2)))
    assert next(s for s in ep.shot_list.shots if s.id == "sc01_sh02").duration_s == 2.5


def test_long_action_without_hold_is_capped(tmp_path: Path, pipeline):
    def edit(outline: dict) -> None:
        outline["scenes"][0]["beats"][1]["action"] = " ".join(["Mara hauls the heavy crate."] * 40)
    ep = pipeline("s01e01", custom_project(tmp_path, edit))
    shot = next(s for s in ep.shot_list.shots if s.id == "sc01_sh02")
    assert 0 < shot.duration_s <= 8.0


# ---- timing lock --------------------------------------------------------------------------------


@pytest.mark.parametrize("episode", EPISODES)
def test_timing_lock_hash(episode: str, pilot, pipeline):
    shot_list = pilot[episode].shot_list
    assert re.fullmatch(r"[0-9a-f]{64}", shot_list.timing_lock_hash)
    assert shot_list.timing_lock_hash == timing_lock_hash(shot_list.shots)
    again = pipeline(episode).shot_list
    assert again.timing_lock_hash == shot_list.timing_lock_hash
    assert pilot["s01e01"].shot_list.timing_lock_hash != pilot["s01e02"].shot_list.timing_lock_hash


def test_timing_lock_changes_with_duration_or_order(pilot):
    shots = list(pilot["s01e01"].shot_list.shots)
    lock = timing_lock_hash(shots)
    longer = [*shots[:3], shots[3].model_copy(update={"duration_s": shots[3].duration_s + 0.5}), *shots[4:]]
    assert timing_lock_hash(longer) != lock
    swapped = [shots[1], shots[0], *shots[2:]]
    assert timing_lock_hash(swapped) != lock
    renamed = [shots[0].model_copy(update={"id": "sc01_sh99"}), *shots[1:]]
    assert timing_lock_hash(renamed) != lock
    assert timing_lock_hash(shots[:-1]) != lock
    # only ids and timing are locked: a new framing keeps the lock
    reframed = [shots[0].model_copy(update={"framing": "wide", "movement": "static"}), *shots[1:]]
    assert timing_lock_hash(reframed) == lock


def test_timing_lock_follows_a_held_beat(tmp_path: Path, pilot, pipeline):
    ep = pipeline("s01e01", custom_project(tmp_path, _hold(1, 20)))
    assert ep.shot_list.timing_lock_hash != pilot["s01e01"].shot_list.timing_lock_hash
    assert ep.manifest.timing_lock_hash == ep.shot_list.timing_lock_hash


# ---- the script carries no camera language ------------------------------------------------------


def _keys(node) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


@pytest.mark.parametrize("episode", EPISODES)
def test_script_has_no_camera_words(episode: str, pilot):
    text = pilot[episode].script.canonical_bytes().decode("utf-8")
    for word in sorted(FRAMINGS | MOVEMENTS):
        spaced = re.escape(word).replace("_", "[_ -]")
        assert not re.search(rf"\b{spaced}\b", text, re.IGNORECASE), word
    keys = _keys(json.loads(text))
    assert not keys & {"framing", "movement", "camera", "shot", "shots", "duration_s"}
    # ...while the shot list built from it does use them
    assert {s.framing for s in pilot[episode].shot_list.shots} >= {"establishing", "medium"}


# ---- asset manifest -----------------------------------------------------------------------------


@pytest.mark.parametrize("episode", EPISODES)
def test_manifest_backgrounds(episode: str, pilot):
    ep = pilot[episode]
    shots = ep.shot_list.shots
    used = list(dict.fromkeys(s.environment for s in shots))
    assert {n.asset_id for n in ep.manifest.backgrounds} == {f"background:{loc}" for loc in used}
    for need in ep.manifest.backgrounds:
        loc = ep.project.location(need.asset_id.removeprefix("background:"))
        assert need.kind == "background"
        assert need.library_path == (loc.background or f"backgrounds/{loc.id}.png")
        assert need.shots == [s.id for s in shots if s.environment == loc.id]
    assert [n.asset_id for n in ep.manifest.backgrounds] == sorted(n.asset_id for n in ep.manifest.backgrounds)


def test_manifest_lists_a_location_without_an_image(pilot):
    # the sea cave has no picture in the library on purpose; the manifest still asks for it
    assert "background:sea_cave" in {n.asset_id for n in pilot["s01e02"].manifest.backgrounds}
    assert "background:sea_cave" not in {n.asset_id for n in pilot["s01e01"].manifest.backgrounds}


@pytest.mark.parametrize("episode", EPISODES)
def test_manifest_characters(episode: str, pilot):
    ep = pilot[episode]
    shots = ep.shot_list.shots
    on_screen = {c for s in shots for c in s.characters}
    assert on_screen
    portraits = [n for n in ep.manifest.character_packs if n.kind == "character"]
    assert {n.asset_id for n in portraits} == {f"character:{c}" for c in on_screen}
    expressions = {(c, e) for s in shots for c, e in s.expressions.items() if e != "neutral"}
    assert {n.asset_id for n in ep.manifest.character_packs if n.kind == "expression"} == {
        f"expression:{c}/{e}" for c, e in expressions}
    for need in ep.manifest.character_packs:
        if need.kind == "expression":  # characters/<id>/expressions/<emotion>.png, beside the flat portrait
            cid, emotion = need.asset_id.removeprefix("expression:").split("/")
            assert need.library_path == f"characters/{cid}/expressions/{emotion}.png"
            assert need.shots == [s.id for s in shots if s.expressions.get(cid) == emotion]
            continue
        cid = need.asset_id.removeprefix("character:")
        ch = ep.project.character(cid)
        assert need.kind == "character"
        assert need.library_path == (ch.portrait or f"characters/{cid}.png")
        assert need.shots == [s.id for s in shots if cid in s.characters]
        assert need.shots


@pytest.mark.parametrize("episode", EPISODES)
def test_manifest_vo_lines_follow_the_dialogue(episode: str, pilot):
    ep = pilot[episode]
    vo = [(v.line_id, v.speaker_id, v.text, v.emotion) for v in ep.manifest.vo_lines]
    lines = [(el.line_id, el.speaker_id, el.text, el.emotion) for el in dialogue(ep.script)]
    assert vo == lines
    assert len({v.line_id for v in ep.manifest.vo_lines}) == len(vo)
    shot_of = {ln.line_id: s.id for s in ep.shot_list.shots for ln in s.lines}
    assert [v.shot_id for v in ep.manifest.vo_lines] == [shot_of[v.line_id] for v in ep.manifest.vo_lines]


def test_manifest_vo_pacing(pilot):
    pacing = {v.emotion: v.pacing for ep in pilot.values() for v in ep.manifest.vo_lines}
    assert pacing["tired"] == "slow"
    assert pacing["afraid"] == "fast"
    assert pacing["curious"] == "normal"


@pytest.mark.parametrize("episode", EPISODES)
def test_manifest_is_in_its_shot_lists_timing(episode: str, pilot):
    ep = pilot[episode]
    assert ep.manifest.episode_id == episode
    assert ep.manifest.timing_lock_hash == ep.shot_list.timing_lock_hash
    again = build_manifest(ep.shot_list, ep.project)
    assert again.canonical_bytes() == ep.manifest.canonical_bytes()


# ---- determinism --------------------------------------------------------------------------------


@pytest.mark.parametrize("episode", EPISODES)
def test_writing_and_film_are_byte_identical_twice(episode: str, pilot, pipeline):
    first, second = pilot[episode], pipeline(episode)
    for name in ("outline", "script", "shot_list", "manifest"):
        assert getattr(second, name).canonical_bytes() == getattr(first, name).canonical_bytes(), name
    speech = {ln.line_id: round(ln.end_s - ln.start_s, 3) for shot in first.shot_list.shots for ln in shot.lines}
    mouths = {ln.line_id: ln.mouth for shot in first.shot_list.shots for ln in shot.lines}
    names = {c.id: c.name for c in first.project.characters}
    assert plan_shots(first.script, speech, mouths, names).canonical_bytes() == \
        first.shot_list.canonical_bytes()


def test_shots_are_sized_to_the_voice_over(pilot):
    """A longer take makes a longer shot, and the line's slot is the take's exact length (the lock reflects speech)."""
    script = pilot["s01e01"].script
    line = next(el for sc in script.scenes for el in sc.elements if el.kind == "dialogue")
    short = plan_shots(script, {line.line_id: 1.5})
    long = plan_shots(script, {line.line_id: 6.2})
    shot = {s.id: s for s in short.shots}
    (sid, slot_short), = [(s.id, s.lines[0]) for s in short.shots if s.lines and s.lines[0].line_id == line.line_id]
    (slot_long,) = [s.lines[0] for s in long.shots if s.id == sid]
    assert round(slot_short.end_s - slot_short.start_s, 3) == 1.5 and round(slot_long.end_s - slot_long.start_s, 3) == 6.2
    assert {s.id: s.duration_s for s in long.shots}[sid] == 7.5 > shot[sid].duration_s
    assert long.timing_lock_hash != short.timing_lock_hash


HASHES = """
import json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from tests.conftest import run_pilot
out = {{}}
for ep in {episodes!r}:
    e = run_pilot(ep, Path({project!r}))
    out[ep] = [e.script.sha256(), e.shot_list.sha256(), e.manifest.sha256()]
print(json.dumps(out))
"""


def test_byte_identical_across_processes_and_hash_seeds(pilot):
    expected = {ep: [pilot[ep].script.sha256(), pilot[ep].shot_list.sha256(), pilot[ep].manifest.sha256()]
                for ep in EPISODES}
    code = HASHES.format(root=str(ROOT), project=str(PILOT_PROJECT), episodes=EPISODES)
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == expected, f"PYTHONHASHSEED={seed}"


@pytest.mark.parametrize("episode", EPISODES)
def test_manifest_beat_markers_follow_the_locked_timeline(episode: str, pilot):
    ep = pilot[episode]
    markers = ep.manifest.beat_markers
    starts = {m.ref: m.at_s for m in markers if m.kind == "line_start"}
    ends = {m.ref: m.at_s for m in markers if m.kind == "line_end"}
    assert set(starts) == set(ends) == {v.line_id for v in ep.manifest.vo_lines}
    offset = 0.0
    for shot in ep.shot_list.shots:
        for line in shot.lines:
            assert starts[line.line_id] == round(offset + line.start_s, 3)
            assert ends[line.line_id] == round(offset + line.end_s, 3)
        offset += shot.duration_s
    actions = [m for m in markers if m.kind == "action"]
    assert [m.shot_id for m in actions] == [s.id for s in ep.shot_list.shots if s.action_beats]
    assert [m.at_s for m in markers] == sorted(m.at_s for m in markers)


def test_conversations_cut_between_framings_and_actions_pose_who_they_name(pilot):
    """A reply is seen over the listener's shoulder (the speaker first), every third line of a scene is a two-shot;
    "Tobias falls into the dark" lays Tobias down, not the man he struggles with."""
    framings = {s.framing for ep in pilot.values() for s in ep.shot_list.shots}
    assert {"over_shoulder", "two_shot", "medium", "close_up", "establishing", "wide"} <= framings
    for ep in pilot.values():
        for shot in ep.shot_list.shots:
            if shot.framing == "over_shoulder":
                assert len(shot.characters) == 2 and shot.characters[0] == shot.lines[0].speaker_id, shot.id
    struggle = next(s for s in pilot["s01e04"].shot_list.shots if "falls into the dark" in " ".join(s.action_beats))
    assert struggle.poses == {"tobias": "lying"} and set(struggle.characters) == {"tobias", "aldo"}
    assert all(not s.poses for ep in pilot.values() for s in ep.shot_list.shots if s is not struggle
               and not any(w in " ".join(s.action_beats).lower() for w in ("falls", "sinks", "turns away")))
