"""Approve or reject from the Dagster UI: the `review_checkpoint` job (Jobs → review_checkpoint → Launchpad, pick
the episode partition, fill in who decides). It records the decision exactly as `naos approve` does
(approvals/decide.py); the approvals sensor then launches the gated assets of the episode."""

from enum import Enum
from pathlib import Path

from dagster import AssetObservation, Config, Failure, OpExecutionContext, job, op
from pydantic import Field

from io_managers import site_id
from resources import NaosHome, NaosProject

from ..canon.ledger import report_canon_before
from ..executors import naos_executor
from ..partitions import episodes
from ..stage import EXIT_BAD_INPUT, bad_input
from .assets import CHECKPOINT_ASSETS
from .decide import DecisionError, decide, refresh_views


class Decision(Enum):
    approve = "approve"
    reject = "reject"


class ReviewConfig(Config):
    by: str = Field(description="who decides (recorded in the audit trail)")
    decision: Decision = Field(Decision.approve, description="approve or reject")
    checkpoint: str = Field("", description="the checkpoint, e.g. approve_shotlist_timing_lock; empty = the one "
                                            "the episode waits at")
    note: str = Field("", description="the reviewer's note (recorded)")


@op(description="Records the reviewer's decision for the episode's open review request.")
def record_decision(context: OpExecutionContext, config: ReviewConfig, project: NaosProject, naos: NaosHome) -> None:
    episode = context.partition_key
    with bad_input():
        proj = project.load()
    registry = naos.registry()
    try:
        record, request = decide(registry, naos.canon_store().path, proj.id, episode, config.checkpoint or None,
                                 config.decision.value, config.by, config.note)
    except DecisionError as exc:
        raise Failure(description=f"{exc.field}: {exc}", metadata={"naos/exit_code": EXIT_BAD_INPUT, "field": exc.field},
                      allow_retries=False) from None
    checkpoint = request["checkpoint"]
    context.instance.add_run_tags(context.run_id, {"naos/checkpoint": checkpoint, "naos/decision": record["decision"],
                                                   "naos/decided_by": record["by"]})
    context.log_event(AssetObservation(
        asset_key=CHECKPOINT_ASSETS[checkpoint], partition=episode,
        metadata={"naos/decision": record["decision"], "naos/decided_by": record["by"], "naos/note": record["note"],
                  "naos/audit_seq": record["seq"], "naos/artifact_sha256": request["artifact_sha256"]}))
    context.log.info(f"{checkpoint}: {record['decision']} the {request['artifact']} of {episode} by {record['by']} "
                     f"(audit record {record['seq']}); "
                     + ("the approvals sensor launches the gated assets within a minute"
                        if record["decision"] == "approved" else "the episode stays stopped at this checkpoint"))
    if checkpoint == "approve_canon_diff":  # later episodes' canon changes with this verdict: show them stale now
        report_canon_before(context.instance, naos.canon_store(), proj.id, [e.id for e in proj.episodes],
                            log=context.log_event)
    problem = refresh_views(Path(naos.naos_home), registry)
    if problem:
        context.log.warning(problem)


@job(partitions_def=episodes, executor_def=naos_executor, tags={"naos/site_id": site_id(), "naos/kind": "review"},
     description="Approve or reject an episode's open checkpoint review from the UI: pick the episode partition, "
                 "set `by` (and `decision: reject` with a note to reject). The approvals sensor then resumes the "
                 "episode.")
def review_checkpoint():
    record_decision()
