"""Content, not lineage, in hashes (docs/SCHEMAS.md): a one-line dialogue edit in the middle episode of a season
changes that episode's artifacts and nothing of the later ones, whose stages are cache hits and whose approvals
(CanonDiff, timing lock) stand; the edited episode's CanonDiff, whose facts did not change, keeps its approval too.
Toggling the human checkpoints leaves every stage's cache key alone. Real Dagster runs (in process), real canon,
recall, espeak-ng voices, ffmpeg, on a three-episode season rendered at 320x180.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, materialize

from engines.canon import INITIAL_CANON_FIELDS, initial_canon
from engines.film import PROJECT_FIELDS, build_manifest
from io_managers import AuditTrail, Registry
from naos_assets.approvals.assets import CHECKPOINT_ASSETS
from naos_assets.approvals.decide import decide
from naos_assets.definitions import ASSETS
from naos_assets.definitions import resources as naos_resources
from naos_assets.jobs import render_episode
from naos_assets.partitions import episodes
from schemas import ContextPack
from tests.season import tiny_project, write_season

EPISODES = ["s01e01", "s01e02", "s01e03"]
EDITED, LATER = "s01e02", ["s01e03"]
RENDER = render_episode.selection  # what `naos render` materializes for an episode
# every stage of an episode that stores an artifact through the registry's cache (stage_output)
STAGES = ["episode_plan", "canon_diff", "canon_snapshot", "context_pack", "script", "canon_gate", "voice_over",
          "shot_list", "asset_manifest", "recording_packet", "render_plan", "episode_audio", "render_output"]
DIFF, LOCK = "approve_canon_diff", "approve_shotlist_timing_lock"
EDIT = ("Deal me another hand.", "Deal me one more hand, then.")


def _scene(sid: str, location: str, action: str, speaker: str, line: str, listener: str) -> dict:
    return {"id": sid, "location": location, "time": "day 1, dusk", "characters": [speaker, listener],
            "beats": [{"action": action}, {"speaker": speaker, "line": line, "emotion": "calm"}]}


# s01e01 and s01e03 are about the lamp at the harbour; s01e02 is a card game at the inn, so the recall of s01e03
# (its three nearest earlier scenes) is s01e01's three scenes, and s01e02's edited line is not colour it reads.
OUTLINES = {
    "s01e01": {"summary": "The lamp goes dark and Mara readies the boat at the harbour.", "scenes": [
        _scene("sc01", "harbor", "Mara mends the nets at the harbour.", "mara", "The lamp went dark last night.",
               "ines"),
        _scene("sc02", "harbor", "Ines watches the lamp from the harbour wall.", "ines",
               "Someone must row out to the lamp.", "mara"),
        _scene("sc03", "harbor", "Mara readies the boat at the harbour.", "mara", "I will row out to the lamp at dawn.",
               "ines")]},
    "s01e02": {"summary": "Cards and cider at the inn.", "scenes": [
        _scene("sc01", "inn", "Ines shuffles a deck of cards by the fire.", "ines", EDIT[0], "mara")]},
    "s01e03": {"summary": "Mara rows back to the harbour; the lamp is lit again.", "scenes": [
        _scene("sc01", "harbor", "Mara rows back into the harbour at dawn.", "mara", "The lamp is lit again.",
               "ines")]},
}


def _write(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")


def write_project(folder: Path) -> Path:
    project_file = write_season(folder, episodes=len(EPISODES))
    for n, episode in enumerate(EPISODES, 1):
        _write(folder / "episodes" / f"{episode}.yaml",
               {"schema_version": "1.1.0", "episode_number": n, "title": f"Night {n}", **OUTLINES[episode]})
    project = tiny_project(len(EPISODES))
    project["human_checkpoints"].update({DIFF: True, LOCK: True})  # a person approves every diff and timing lock
    project.pop("story_arc")
    _write(project_file, project)
    return project_file


class Season:
    """One NAOS_HOME and one Dagster instance; `run(episode)` materializes what `naos render` does for it."""

    def __init__(self, project_file: Path, home: Path):
        self.project_file, self.home = project_file, home
        self.instance = DagsterInstance.ephemeral()
        self.instance.add_dynamic_partitions(episodes.name, EPISODES)

    def run(self, episode: str) -> dict[str, dict]:
        """{asset: its materialization metadata (plain values)} of one render_episode-like run of `episode`."""
        result = materialize(ASSETS, instance=self.instance, partition_key=episode, selection=RENDER,
                             resources=naos_resources(str(self.project_file), str(self.home)))
        assert result.success, episode
        return {e.asset_key.to_user_string(): {k: getattr(v, "value", v) for k, v in
                                               e.materialization.metadata.items()}
                for e in result.get_asset_materialization_events()}

    def registry(self) -> Registry:
        return Registry.local(self.home / "artifacts")

    def approve(self, episode: str, checkpoint: str) -> None:
        decide(self.registry(), self.home / "canon.duckdb", "tiny", episode, checkpoint, "approve", "Ed Editor")

    def edit_project(self, edit) -> None:
        data = yaml.safe_load(self.project_file.read_text(encoding="utf-8"))
        edit(data)
        _write(self.project_file, data)

    def requests(self) -> list[dict]:
        return [r for r in AuditTrail(self.registry()).records() if r["decision"] == "requested"]


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    base = tmp_path_factory.mktemp("cascade")
    s = Season(write_project(base / "project"), base / "home")
    first = {}
    for episode in EPISODES:  # a run pauses at the CanonDiff, then at the timing lock; approved, it goes on
        for checkpoint in (DIFF, LOCK):
            paused = s.run(episode)
            assert CHECKPOINT_ASSETS[checkpoint] not in paused and "render_output" not in paused, (episode, checkpoint)
            s.approve(episode, checkpoint)
        first[episode] = s.run(episode)
        for checkpoint in (DIFF, LOCK):
            assert first[episode][CHECKPOINT_ASSETS[checkpoint]]["approver"] == "Ed Editor"
    return {"season": s, "first": first}


def _sha(meta: dict[str, dict], asset: str) -> str:
    return meta[asset]["naos/sha256"]


@pytest.mark.slow
def test_a_dialogue_edit_changes_its_episode_and_leaves_later_episodes_alone(season):
    s, first = season["season"], season["first"]
    for episode in LATER:  # what makes "the same context pack" possible: the edited scene is not what they recall
        pack = ContextPack.model_validate_json(s.registry().get_bytes(_sha(first[episode], "context_pack")))
        assert pack.recalled and EDITED not in {h.episode_id for h in pack.recalled}, episode
    requests_before = len(s.requests())
    outline = s.project_file.parent / "episodes" / f"{EDITED}.yaml"
    outline.write_text(outline.read_text(encoding="utf-8").replace(*EDIT), encoding="utf-8")

    edited = s.run(EDITED)
    for asset in ("episode_plan", "script", "voice_over", "shot_list"):
        assert _sha(edited, asset) != _sha(first[EDITED], asset), asset
    # no canon fact changed: the same CanonDiff, still approved (the approval binds to its content)
    assert _sha(edited, "canon_diff") == _sha(first[EDITED], "canon_diff")
    assert edited["canon_diff_approval"]["approver"] == "Ed Editor"
    if "shotlist_timing_lock" not in edited:  # the new line's take moved the lock: a new review of s01e02 only
        s.approve(EDITED, LOCK)
        edited = s.run(EDITED)
    assert _sha(edited, "render_output") != _sha(first[EDITED], "render_output")

    figures = {}
    for episode in LATER:
        again = s.run(episode)
        hits = {a: again[a]["naos/cache_hit"] for a in STAGES}
        same = {a: _sha(again, a) == _sha(first[episode], a) for a in STAGES}
        figures[episode] = {"cache_hits": sum(hits.values()), "stages": len(STAGES), "same_sha": sum(same.values()),
                            "misses": sorted(a for a, h in hits.items() if not h)}
        print("CASCADE", json.dumps({episode: figures[episode]}))
        assert same == dict.fromkeys(STAGES, True), (episode, same)
        assert _sha(again, "shot_clips") == _sha(first[episode], "shot_clips")
        assert all(again["shot_clips"]["naos/shot_cache"].values())
        # the recall corpus changed (s01e02's scene text): the context pack is worked out again, to the same bytes;
        # every stage after it is a cache hit
        assert {a for a, h in hits.items() if not h} <= {"context_pack"}, (episode, hits)
        for checkpoint in (DIFF, LOCK):  # approved before the edit, approved now: the same Approval artifact
            approval = again[CHECKPOINT_ASSETS[checkpoint]]
            assert (approval["decision"], approval["approver"]) == ("approved", "Ed Editor"), checkpoint
            assert _sha(again, CHECKPOINT_ASSETS[checkpoint]) == _sha(first[episode], CHECKPOINT_ASSETS[checkpoint])
    # s01e02's new lock (when its take moved it) is the only new review request
    assert len(s.requests()) - requests_before <= 1


@pytest.mark.slow
def test_toggling_the_checkpoints_leaves_every_cache_key_alone(season):
    s = season["season"]
    before = s.run("s01e03")
    s.edit_project(lambda d: d["human_checkpoints"].update({DIFF: False, LOCK: False}))
    after = s.run("s01e03")
    keys = {a: (before[a]["naos/cache_key"], after[a]["naos/cache_key"]) for a in STAGES}
    assert {a for a, (b, c) in keys.items() if b != c} == set(), keys
    assert all(after[a]["naos/cache_hit"] for a in STAGES)
    assert {after[CHECKPOINT_ASSETS[c]]["decision"] for c in (DIFF, LOCK)} == {"not_required"}


def test_the_project_fields_a_cache_key_hashes_are_what_its_engine_reads(pilot):
    """canon_snapshot and asset_manifest key on some project fields only: changing every other field leaves both the
    engine's output and the hash alone, changing one they read changes both."""
    project, shots = pilot["s01e01"].project, pilot["s01e01"].shot_list
    elsewhere = project.model_copy(update={
        "title": "Another title", "continuity_mode": "strict",
        "human_checkpoints": project.human_checkpoints.model_copy(
            update={k: not v for k, v in project.human_checkpoints.model_dump().items()}),
        "characters": [c.model_copy(update={"voice": c.voice.model_copy(update={"speed": 1.3})})
                       for c in project.characters],
        "audio": project.audio.model_copy(update={"loudness_lufs": -20.0, "narration": True}),
        "cost_policy": project.cost_policy.model_copy(update={"max_run_usd": 1.0})})
    for fields, made in ((INITIAL_CANON_FIELDS, initial_canon), (PROJECT_FIELDS, lambda p: build_manifest(shots, p))):
        assert elsewhere.fields_sha256(*fields) == project.fields_sha256(*fields)
        assert made(elsewhere).canonical_bytes() == made(project).canonical_bytes()
    harbor = next(i for i, loc in enumerate(project.locations) if loc.id == shots.shots[0].environment)
    renamed = project.model_copy(update={"locations": [
        loc.model_copy(update={"name": "Elsewhere"}) if i == harbor else loc for i, loc in enumerate(project.locations)]})
    for fields, made in ((INITIAL_CANON_FIELDS, initial_canon), (PROJECT_FIELDS, lambda p: build_manifest(shots, p))):
        assert renamed.fields_sha256(*fields) != project.fields_sha256(*fields)
        assert made(renamed).canonical_bytes() != made(project).canonical_bytes()
