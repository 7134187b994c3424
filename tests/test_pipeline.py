"""The Dagster layer: definitions load, one partition materializes, artifacts land in the registry with
their content hash as the data version."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from io_managers import Registry
from naos_assets.definitions import ASSETS, build_definitions
from naos_assets.definitions import resources as naos_resources
from naos_assets.jobs import render_episode
from naos_assets.partitions import episodes
from schemas import CONTRACTS

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "examples" / "pilot" / "project.yaml"
STAGES = ["story_arc", "episode_plan", "canon_diff", "canon_snapshot", "context_pack", "script", "canon_gate",
          "voice_over", "shot_list", "asset_manifest", "render_plan", "shot_clips", "render_output"]
UP_TO_PLAN = STAGES[:-2]
AUDIO = ["recording_packet", "episode_audio", "season_audiobook"]
CHECKPOINTS = ["canon_diff_approval", "shotlist_timing_lock", "external_spend_approval", "character_pack_approval"]


def test_definitions_load(tmp_path):
    defs = build_definitions(project_file=str(PILOT), naos_home=str(tmp_path))
    Definitions.validate_loadable(defs)
    job = defs.resolve_job_def("render_episode")
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == {
        *STAGES, *AUDIO, *CHECKPOINTS, "publish", "project_file", "human_checkpoints", "story_arc_file", "outline_file",
        "canon_before"}
    graph = defs.resolve_asset_graph()
    assert {k.name for k in graph.asset_check_keys} == {
        "caption_sync", "loudness", "runtime", "missing_assets", "rights", "listening_test", "approved"}
    # every check is evaluated per episode: the Checks tab shows each episode's own result
    repo = defs.get_repository_def()
    assert all(repo.asset_graph.get_check_spec(k).partitions_def == episodes for k in graph.asset_check_keys)
    # publish is its own job and one way: an external asset it reports, so neither the render job nor the asset
    # graph's "Materialize" / "Materialize all" (the implicit asset job, asset backfills) can select it
    publish = graph.get(AssetKey("publish"))
    assert not publish.is_executable and publish.parent_keys == {AssetKey("render_output")}
    assert defs.resolve_job_def("publish_episode").asset_layer.executable_asset_keys == set()
    implicit = defs.resolve_implicit_global_asset_job_def()
    assert AssetKey("publish") not in implicit.asset_layer.executable_asset_keys
    assert AssetKey("publish") not in job.asset_layer.executable_asset_keys
    # the asset graph's Materialize runs on the project's executor (in-process here), not a process per step
    assert implicit.executor_def.name == "naos"
    assert job.partitions_def == episodes
    assert {k.to_user_string() for k in defs.resolve_job_def("canon_check").asset_layer.executable_asset_keys} == \
        {*STAGES[:7], "canon_diff_approval"}
    # the §27 checkpoints run inside render_episode (a pause skips what follows them)
    assert {*CHECKPOINTS} <= {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    # an asset backfill of the episode group (the UI's "Materialize all", every partition) asks for one run per
    # episode, in season order, each tagged with its partition, so its checks are filed per episode
    # (docs/OPERATIONS.md, "Backfills")
    from dagster._core.definitions.automation_tick_evaluation_context import build_run_requests_with_backfill_policies
    from dagster._core.definitions.events import AssetKeyPartitionKey

    group = [k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable
             and graph.get(k).group_name == "episode"]
    order = ["s01e01", "s01e02", "s01e10"]
    requests = build_run_requests_with_backfill_policies(
        [AssetKeyPartitionKey(k, e) for k in group for e in reversed(order)], graph, None)
    assert [r.partition_key for r in requests] == order
    assert all(set(r.asset_selection) == set(group) and "dagster/asset_partition_range_start" not in r.tags for r in requests)
    # in-process unless a run asks for Dagster's multiprocess executor (`naos render --workers N`) or Celery
    # (NAOS_EXECUTOR, NAOS_PROFILE=production: tests/test_celery.py)
    assert job.executor_def.name == "naos"
    assert render_episode.config == {"execution": {"config": {"in_process": {}}}}
    # §35.1: every job tags its runs with the site, whoever launches them
    from io_managers import site_id

    for name in ("render_episode", "canon_check", "season_m4b", "publish_episode"):
        assert defs.resolve_job_def(name).tags["naos/site_id"] == site_id()
    assert defs.resolve_sensor_def("episode_partitions_sensor") is not None
    assert defs.resolve_sensor_def("cache_prune_sensor") is not None
    assert defs.resolve_schedule_def("season_schedule").job_name == "render_episode"
    for name in ("alert_on_failure", "alert_on_retries", "analytics_success_sensor", "analytics_failure_sensor",
                 "approvals_sensor"):
        assert defs.resolve_sensor_def(name) is not None
    # the shot steps are ops inside the shot_clips graph, not a partition dimension
    shot_clips = defs.resolve_assets_def("shot_clips")
    assert shot_clips.partitions_def == episodes
    assert {n.name for n in shot_clips.node_def.node_defs} == {"plan_shot_steps", "render_shot_clip", "collect_clips"}


def test_materialize_one_partition_up_to_render_plan(tmp_path):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(episodes.name, ["s01e01"])
    assets = [a for a in ASSETS if a.key.to_user_string() in UP_TO_PLAN]
    resources = naos_resources(str(PILOT), str(tmp_path))
    result = materialize(assets, partition_key="s01e01", instance=instance, resources=resources)
    assert result.success
    registry = Registry.local(tmp_path / "artifacts")
    for name in UP_TO_PLAN:
        ref = registry.get_ref(name, None if name == "story_arc" else "s01e01")
        assert ref is not None, name
        data = registry.get_bytes(ref["sha256"])
        CONTRACTS[ref["contract"]].model_validate_json(data)
        record = registry.get_record(name, None if name == "story_arc" else "s01e01", ref["sha256"])
        assert record["asset_key"] == name and record["code_version"]
        event = instance.get_latest_materialization_event(AssetKey(name))
        # Dagster's data version is the artifact's content hash
        assert event.asset_materialization.tags["dagster/data_version"] == ref["sha256"]
    plan_record = registry.get_record("render_plan", "s01e01", registry.get_ref("render_plan", "s01e01")["sha256"])
    assert "asset_manifest" in plan_record["parents"]
    assert plan_record["provenance"]["background:harbor"]["license_type"] == "generated_local"

    # a second materialization reuses every stage from the registry
    again = materialize(assets, partition_key="s01e01", instance=instance, resources=resources)
    mats = [e.event_specific_data.materialization for e in again.get_asset_materialization_events()]
    hits = {m.asset_key.to_user_string(): m.metadata["naos/cache_hit"].value for m in mats}
    assert hits == {name: True for name in UP_TO_PLAN}


@pytest.mark.parametrize("episode", ["s01e01", "s01e02"])
def test_partition_sensor_registers_project_episodes(tmp_path, episode):
    from dagster import build_sensor_context

    from resources import NaosHome, NaosProject
    from sensors import episode_partitions_sensor

    instance = DagsterInstance.ephemeral()
    resources = {"project": NaosProject(project_file=str(PILOT)), "naos": NaosHome(naos_home=str(tmp_path))}
    with build_sensor_context(instance=instance, resources=resources) as ctx:
        result = episode_partitions_sensor(ctx)
    (request,) = result.dynamic_partitions_requests
    assert episode in request.partition_keys
    assert result.cursor


def test_an_edited_outline_shows_its_stages_stale_at_once_and_nothing_else(tmp_path):
    """The sources a stage reads are observable source assets: `naos render` records their versions, the partitions
    sensor records a new one when a file changes, and Dagster's own stale status (what the UI badges) follows."""
    import json as _json

    from dagster import AssetKey, build_sensor_context
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.loader import LoadingContextForTest

    from resources import NaosHome, NaosProject
    from sensors import episode_partitions_sensor
    from tests.test_cli import _copy_pilot, render

    project = _copy_pilot(tmp_path)
    home = tmp_path / "home"
    assert render(project / "project.yaml", tmp_path / "out", home).returncode == 0
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    defs = build_definitions(str(project / "project.yaml"), str(home))
    graph = defs.resolve_asset_graph()

    def status(asset: str, episode: str | None = "s01e01") -> StaleStatus:
        resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
        return resolver.get_status(AssetKey(asset), episode)

    def tick(cursor: str | None) -> str:
        resources = {"project": NaosProject(project_file=str(project / "project.yaml")),
                     "naos": NaosHome(naos_home=str(home))}
        with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as ctx:
            result = episode_partitions_sensor(ctx)
        for event in getattr(result, "asset_events", None) or []:  # what the daemon records from a SensorResult
            instance.report_runless_asset_event(event)
        return getattr(result, "cursor", None) or cursor

    cursor = tick(None)
    assert status("episode_plan") == StaleStatus.FRESH and status("render_output") == StaleStatus.FRESH
    # an unchanged file (a comment added) records nothing new
    outline = project / "episodes" / "s01e01.yaml"
    outline.write_text(outline.read_text() + "\n# a note to self\n")
    assert _json.loads(tick(cursor)) == _json.loads(cursor) and status("episode_plan") == StaleStatus.FRESH
    # a one-line edit: the episode's plan is stale at once, before anything re-runs; the season's arc is not
    outline.write_text(outline.read_text().replace("Inês", "Inês Duarte", 1))
    cursor = tick(cursor)
    assert status("episode_plan") == StaleStatus.STALE
    assert status("story_arc", None) == StaleStatus.FRESH
    # a human checkpoint turned on: only the review checkpoints read it, every other stage stays in sync
    assert status("character_pack_approval") == StaleStatus.FRESH
    (project / "project.yaml").write_text((project / "project.yaml").read_text().replace(
        "\n  approve_character_packs: false", "\n  approve_character_packs: true", 1))
    cursor = tick(cursor)
    assert status("character_pack_approval") == StaleStatus.STALE
    assert status("voice_over") == StaleStatus.FRESH and status("render_output") == StaleStatus.FRESH
    assert status("story_arc", None) == StaleStatus.FRESH
    # a project-file edit reaches the stages that read the project
    (project / "project.yaml").write_text((project / "project.yaml").read_text().replace("title:", "title: New", 1))
    tick(cursor)
    assert status("story_arc", None) == StaleStatus.STALE and status("voice_over") == StaleStatus.STALE
