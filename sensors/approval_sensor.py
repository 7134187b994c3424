"""§27: an approval recorded with `naos approve` launches the gated assets of that episode.

The cursor is the last audit-trail record read; the run key is the approval record's sha256, so a decision launches
exactly one run however often the sensor is evaluated or its cursor is reset. The run materializes the checkpoint
asset and everything after it in `render_episode` (upstream artifacts load from the registry), with the render
profile of the run that paused. If the artifact changed since the approval, the checkpoint asks again.
"""

from __future__ import annotations

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from io_managers import AuditTrail, site_id
from naos_assets.approvals.assets import CHECKPOINT_ASSETS
from naos_assets.jobs import render_episode
from resources import NaosHome, NaosProject


def _went_on(instance, record: dict) -> bool:
    """The checkpoint asset was materialized for that episode after the decision: something (`naos render` run again,
    an earlier evaluation of this sensor before its cursor was lost) took the episode past the checkpoint already."""
    from datetime import datetime

    latest = instance.fetch_materializations(AssetRecordsFilter(
        asset_key=AssetKey(CHECKPOINT_ASSETS[record["checkpoint"]]), asset_partitions=[record["episode_id"]]),
        limit=1).records
    decided = datetime.fromisoformat(record["at"].replace("Z", "+00:00")).timestamp()
    return bool(latest) and latest[0].timestamp > decided + 1  # "at" is whole seconds


def gated_selection(checkpoint: str) -> AssetSelection:
    """The checkpoint asset and everything after it that `render_episode` materializes."""
    return AssetSelection.assets(CHECKPOINT_ASSETS[checkpoint]).downstream() & render_episode.selection


@sensor(job=render_episode, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="After `naos approve`, materializes the approved checkpoint and everything after it for that "
                    "episode (one run per approval: run key = the audit record's hash), unless the episode went past the "
                    "checkpoint since.")
def approvals_sensor(context: SensorEvaluationContext, project: NaosProject, naos: NaosHome):
    seen = int(context.cursor or 0)
    records = AuditTrail(naos.registry()).records()
    fresh = [r for r in records if r["seq"] > seen]
    if not fresh:
        return SkipReason("no new decisions in the audit trail")
    project_id = project.load().id
    by_seq = {r["seq"]: r for r in records}
    asset_graph = context.repository_def.asset_graph
    requests = []
    for record in fresh:
        if record["decision"] != "approved" or record["project_id"] != project_id:
            continue
        if _went_on(context.instance, record):
            continue
        request = by_seq.get(record["details"].get("request_seq"), {})
        profile = request.get("details", {}).get("profile", "preview_local")
        keys = sorted(gated_selection(record["checkpoint"]).resolve(asset_graph), key=lambda k: k.to_user_string())
        requests.append(RunRequest(
            run_key=f"approval:{record['sha256']}", partition_key=record["episode_id"], asset_selection=keys,
            run_config={"ops": {"render_plan": {"config": {"profile": profile}}},
                        "execution": {"config": {"in_process": {}}}},
            tags={"naos/approval": str(record["seq"]), "naos/checkpoint": record["checkpoint"], "naos/site_id": site_id(),
                  "naos/approved_by": record["by"]}))
    return SensorResult(run_requests=requests, cursor=str(fresh[-1]["seq"]))
