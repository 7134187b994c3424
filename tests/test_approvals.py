"""§27 human checkpoints as a user meets them: `naos render` pauses (exit 5), `naos approve` records the decision in
the audit trail, the approvals sensor launches the gated assets (one run), a changed artifact needs a new approval,
a rejection blocks (exit 3). Real Dagster runs, real ffmpeg, the sensor on a real instance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.test_cli import _copy_pilot, _edit_yaml, naos, render

pytestmark = pytest.mark.slow

CHECKPOINT = "approve_shotlist_timing_lock"


def _approve(project: Path, home: Path, *extra: str, verb: str = "approve", checkpoint: str = CHECKPOINT,
             episode: str = "s01e01"):
    return naos(verb, "--project", str(project / "project.yaml"), "--episode", episode, "--checkpoint", checkpoint,
                *extra, home=home)


def _pending(project: Path, home: Path) -> list[dict]:
    result = naos("approvals", "--project", str(project / "project.yaml"), "--json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _ref(home: Path, asset: str, episode: str = "s01e01") -> dict | None:
    from io_managers import Registry

    return Registry.local(home / "artifacts").get_ref(asset, episode)


def _timing_lock(home: Path, episode: str = "s01e01") -> str:
    from io_managers import Registry

    registry = Registry.local(home / "artifacts")
    return json.loads(registry.get_bytes(registry.get_ref("shot_list", episode)["sha256"]))["timing_lock_hash"]


def _sensor(home: Path, project_file: Path, cursor: str | None = None):
    """One evaluation of the approvals sensor against the instance `naos render` used."""
    from dagster import DagsterInstance, build_sensor_context
    from dagster._core.definitions.partitions.context import partition_loading_context
    from dagster._core.instance.ref import InstanceRef

    from naos_assets.definitions import build_definitions

    defs = build_definitions(str(project_file), str(home))
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    with build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def(),
                              resources={"project": defs.resources["project"], "naos": defs.resources["naos"]}) \
            as context, partition_loading_context(dynamic_partitions_store=instance):
        result = defs.get_sensor_def("approvals_sensor").evaluate_tick(context)
    return defs, instance, result


def test_timing_lock_pauses_until_approved_and_an_approval_launches_one_run(tmp_path):
    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: d["human_checkpoints"].update(**{CHECKPOINT: True}))
    home, out = tmp_path / "home", tmp_path / "out"

    # 1. the run stops before the AssetManifest: a pause (exit 5), not a failure
    paused = render(project / "project.yaml", out, home)
    assert paused.returncode == 5, paused.stderr
    assert f"{CHECKPOINT}: waiting for approval" in paused.stderr and "naos approve --project" in paused.stderr
    summary = json.loads((out / "run_summary.json").read_text())
    assert (summary["status"], summary["exit_code"]) == ("waiting_for_approval", 5)
    assert not (out / "episode.mp4").exists()
    assert _ref(home, "shot_list") is not None and _ref(home, "asset_manifest") is None
    lock = _timing_lock(home)
    [request] = _pending(project, home)
    # the approval binds to what it approves: the timing lock, not the ShotList's other bytes
    assert (request["checkpoint"], request["artifact"], request["artifact_sha256"]) == (
        CHECKPOINT, "ShotList timing lock", lock)
    assert request["link"].endswith(f"/runs/{summary['run_id']}") and request["run_id"] == summary["run_id"]
    # the review request goes out like an alert (and to the webhook, when one is configured)
    alerts = [json.loads(line) for line in (home / "alerts" / "alerts.jsonl").read_text().splitlines()]
    assert [(a["alert_type"], a["stage"], a["run_id"]) for a in alerts] == [
        ("approval_requested", "shotlist_timing_lock", summary["run_id"])]
    # a second run before any decision asks nothing new and pauses again
    assert render(project / "project.yaml", out, home).returncode == 5
    assert len(_pending(project, home)) == 1

    # 2. bad decisions are refused and name the flag
    wrong = _approve(project, home, "--by", "ed", checkpoint="approve_canon_diff")
    assert wrong.returncode == 2 and "--checkpoint: nothing awaits approve_canon_diff" in wrong.stderr
    nobody = _approve(project, home, "--by", " ")
    assert nobody.returncode == 2 and "--by" in nobody.stderr

    # 3. the approval is recorded; the sensor turns it into exactly one run of the gated assets for s01e01
    approved = _approve(project, home, "--by", "Ed Editor", "--note", "pacing ok")
    assert approved.returncode == 0, approved.stderr
    assert _pending(project, home) == []
    defs, instance, tick = _sensor(home, project / "project.yaml")
    [request] = tick.run_requests
    assert request.partition_key == "s01e01" and request.run_key.startswith("approval:")
    keys = {k.to_user_string() for k in request.asset_selection}
    assert {"shotlist_timing_lock", "asset_manifest", "render_plan", "shot_clips", "render_output"} <= keys
    assert not keys & {"script", "shot_list", "canon_gate", "voice_over"}  # upstream is already there
    assert tick.cursor is not None
    _, _, again = _sensor(home, project / "project.yaml", cursor=tick.cursor)
    assert again.run_requests == [] and again.skip_message
    _, _, replay = _sensor(home, project / "project.yaml")  # a reset cursor gives the same key: the daemon dedupes
    assert [r.run_key for r in replay.run_requests] == [request.run_key]

    job = defs.resolve_job_def("render_episode")
    result = job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                    asset_selection=request.asset_selection, run_config=request.run_config,
                                    tags={k: v for k, v in request.tags.items() if not k.startswith("dagster/")})
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"shotlist_timing_lock", "render_output"} <= done and "shot_list" not in done
    # once the episode went past the checkpoint, a sensor that lost its cursor (a new daemon) launches nothing for it
    _, _, restarted = _sensor(home, project / "project.yaml")
    assert restarted.run_requests == [], restarted.run_requests
    approval = json.loads((home / "artifacts" / "objects" / _ref(home, "shotlist_timing_lock")["sha256"]).read_text())
    assert (approval["decision"], approval["approver"], approval["artifact_sha256"]) == (
        "approved", "Ed Editor", lock)

    # 4. the same `naos render` now goes through (everything is a cache hit)
    done_run = render(project / "project.yaml", out, home)
    assert done_run.returncode == 0, done_run.stderr
    assert (out / "episode.mp4").stat().st_size > 0
    assert all(json.loads((out / "run_summary.json").read_text())["shot_cache"].values())

    # 5. an edited line changes the ShotList: the approval of the old bytes does not carry over
    outline = project / "episodes" / "s01e01.yaml"
    data = yaml.safe_load(outline.read_text())
    beat = next(b for b in data["scenes"][0]["beats"] if b.get("line"))
    beat["line"] = beat["line"] + " And the tide was turning."
    outline.write_text(yaml.safe_dump(data, sort_keys=False))
    changed = render(project / "project.yaml", out, home)
    assert changed.returncode == 5, changed.stderr
    [request] = _pending(project, home)
    assert request["artifact_sha256"] == _timing_lock(home) != lock

    # 6. a rejection blocks the episode (exit 3) with the reviewer's note, until the bytes change again
    rejected = _approve(project, home, "--by", "Ed Editor", "--note", "the new line drags", verb="reject")
    assert rejected.returncode == 0, rejected.stderr
    blocked = render(project / "project.yaml", out, home)
    assert blocked.returncode == 3, blocked.stderr
    assert "Ed Editor rejected the ShotList timing lock of s01e01" in blocked.stderr and "the new line drags" in blocked.stderr

    # 7. every decision is in the audit trail, chained; the approvals view in naos.duckdb reads it
    history = naos("approvals", "--project", str(project / "project.yaml"), "--all", "--verify", "--json", home=home)
    assert history.returncode == 0 and "audit trail intact: 4 record(s)" in history.stderr
    assert [(r["decision"], r["by"]) for r in json.loads(history.stdout)] == [
        ("requested", "naos"), ("approved", "Ed Editor"), ("requested", "naos"), ("rejected", "Ed Editor")]
    from naos_assets.analytics import query

    rows = query(home, "SELECT decision, actor, note FROM approvals WHERE decision <> 'requested' ORDER BY seq")
    assert rows == [{"decision": "approved", "actor": "Ed Editor", "note": "pacing ok"},
                    {"decision": "rejected", "actor": "Ed Editor", "note": "the new line drags"}]
    assert query(home, "SELECT count(*) AS n FROM alerts WHERE alert_type = 'approval_requested'") == [{"n": 2}]
    record = home / "artifacts" / "audit" / "00000002.json"
    record.write_text(record.read_text().replace("pacing ok", "pacing great"))
    tampered = naos("approvals", "--project", str(project / "project.yaml"), "--verify", home=home)
    assert tampered.returncode == 2 and "audit/00000002.json" in tampered.stderr


def test_external_spend_and_character_packs_pause_before_paying_and_before_drawing(tmp_path):
    """s01e02 needs a sea cave the library lacks; a paid search source would supply it (0.25 USD)."""
    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: (
        d["human_checkpoints"].update(approve_external_spend=True, approve_character_packs=True),
        d.update(assets={"sources": [{"source": "tests.asset_sources:StockSearch",
                                      "options": {"attribution": "Sea cave by Ada Lens"}}]})))
    home, out = tmp_path / "home", tmp_path / "out"

    spend = render(project / "project.yaml", out, home, episode="s01e02")
    assert spend.returncode == 5, spend.stderr
    [request] = _pending(project, home)
    assert (request["checkpoint"], request["artifact"]) == ("approve_external_spend", "SpendEstimate")
    assert request["details"]["total_usd"] == 0.25
    assert [(i["need"], i["source"]) for i in request["details"]["items"]] == [("background:sea_cave", "stock_search")]
    assert _ref(home, "render_plan", "s01e02") is None  # nothing paid: the resolver never ran
    assert _approve(project, home, "--by", "producer", checkpoint="approve_external_spend",
                    episode="s01e02").returncode == 0

    packs = render(project / "project.yaml", out, home, episode="s01e02")
    assert packs.returncode == 5, packs.stderr
    [request] = _pending(project, home)
    assert (request["checkpoint"], request["artifact"]) == ("approve_character_packs", "CharacterPacks")
    assert {p["asset_id"] for p in request["details"]["packs"]} >= {"character:mara"}
    plan = json.loads((home / "artifacts" / "objects" / _ref(home, "render_plan", "s01e02")["sha256"]).read_text())
    cave = next(a for a in plan["assets"] if a["asset_id"] == "background:sea_cave")
    assert cave["source"] == "stock_search"
    assert _ref(home, "shot_clips", "s01e02") is None  # no shot drawn before the packs are approved
    assert _approve(project, home, "--by", "art director", checkpoint="approve_character_packs",
                    episode="s01e02").returncode == 0

    done = render(project / "project.yaml", out, home, episode="s01e02")
    assert done.returncode == 0, done.stderr
    assert (out / "episode.mp4").stat().st_size > 0


def test_a_source_that_cannot_load_is_bad_input_at_the_spend_checkpoint(tmp_path):
    """The spend estimate is the first step to load the asset sources: a bad one is exit 2 naming the field."""
    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: (d["human_checkpoints"].update(approve_external_spend=True),
                                                    d.update(assets={"sources": [{"source": "no_such_plugin"}]})))
    result = render(project / "project.yaml", tmp_path / "out", tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert f"{project / 'project.yaml'}: assets.sources[0].source: asset source 'no_such_plugin'" in result.stderr


def _check(instance, asset: str, name: str, episode: str):
    """The latest evaluation of one asset check for one episode partition (None when never evaluated)."""
    from dagster import AssetCheckKey, AssetKey
    from dagster._core.event_api import PartitionKeyFilter

    [record] = instance.event_log_storage.get_asset_check_execution_history(
        AssetCheckKey(AssetKey(asset), name), limit=1, partition_filter=PartitionKeyFilter(key=episode)) or [None]
    return record.event.dagster_event.event_specific_data if record and record.event else None


def test_a_paused_run_is_visibly_paused_and_a_reviewer_approves_from_the_ui_job(tmp_path, monkeypatch):
    from dagster import AssetCheckSeverity, DagsterInstance, RunsFilter
    from dagster._core.instance.ref import InstanceRef

    from naos_assets.definitions import build_definitions

    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: d["human_checkpoints"].update(**{CHECKPOINT: True}))
    home, out = tmp_path / "home", tmp_path / "out"
    paused = render(project / "project.yaml", out, home)
    assert paused.returncode == 5, paused.stderr
    run_id = json.loads((out / "run_summary.json").read_text())["run_id"]
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    # the run list reads it at a glance: a tag on the run, and the checkpoint's `approved` check failing (ERROR)
    assert instance.get_run_by_id(run_id).tags["naos/awaiting_approval"] == CHECKPOINT
    assert [r.run_id for r in instance.get_runs(RunsFilter(tags={"naos/awaiting_approval": CHECKPOINT}))] == [run_id]
    waiting = _check(instance, "shotlist_timing_lock", "approved", "s01e01")
    assert waiting is not None and not waiting.passed and waiting.severity == AssetCheckSeverity.ERROR
    assert waiting.partition == "s01e01" and "naos approve --project" in waiting.metadata["approve_in_shell"].value
    assert _check(instance, "shotlist_timing_lock", "approved", "s01e02") is None  # per episode, not the last run

    # the printed command works as printed, from another folder, once NAOS_PROJECT names the project
    monkeypatch.setenv("NAOS_PROJECT", str(project / "project.yaml"))
    listed = naos("approvals", "--json", home=home)
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["checkpoint"] == CHECKPOINT, listed.stderr

    # the review_checkpoint job (what the UI launches) records the decision; a nameless one is refused
    defs = build_definitions(str(project / "project.yaml"), str(home))
    review = defs.resolve_job_def("review_checkpoint")
    nameless = review.execute_in_process(instance=instance, partition_key="s01e01", raise_on_error=False,
                                         run_config={"ops": {"record_decision": {"config": {"by": " "}}}})
    assert not nameless.success and _pending(project, home) != []
    done = review.execute_in_process(instance=instance, partition_key="s01e01",
                                     run_config={"ops": {"record_decision": {"config": {"by": "Ana Operator"}}}})
    assert done.success and _pending(project, home) == []
    trail = naos("approvals", "--all", "--json", home=home)
    last = json.loads(trail.stdout)[-1]
    assert (last["decision"], last["by"], last["artifact_sha256"]) == ("approved", "Ana Operator", _timing_lock(home))
    assert instance.get_run_by_id(done.run_id).tags["naos/decided_by"] == "Ana Operator"

    # the sensor resumes the episode; the check passes once the approved checkpoint has run
    _, _, tick = _sensor(home, project / "project.yaml")
    [request] = tick.run_requests
    resumed = defs.resolve_job_def("render_episode").execute_in_process(
        instance=instance, partition_key="s01e01", asset_selection=request.asset_selection,
        run_config=request.run_config, tags={k: v for k, v in request.tags.items() if not k.startswith("dagster/")})
    assert resumed.success
    assert _check(instance, "shotlist_timing_lock", "approved", "s01e01").passed
