"""Human checkpoints (§27) as assets between stages.

A checkpoint asset stands before its gated step. When its flag in `human_checkpoints` is off it passes at once; when
it is on it looks up the artifact's hash in the registry's audit trail:
- approved (for these exact bytes): it materializes an Approval and the run goes on;
- rejected: the step fails with exit 3 and the reviewer's note;
- otherwise it records a review request (once per hash) and yields nothing. Dagster then skips everything downstream
  and the run ends successfully: a pause, not a failure, and it stays paused however long the review takes.
`naos render` exits 5 for such a run; after `naos approve`, the same `naos render` continues (everything upstream
is a cache hit), or the approvals sensor launches the gated assets for the partition.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetObservation,
    DataVersion,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from io_managers import AuditTrail
from resources import NaosHome, NaosProject
from schemas import Approval, AssetManifest, CanonDiff, GateReport, RenderPlan, ShotList, canonical_json, sha256_bytes

from ..figures import numbers
from ..media.assets import build_resolver
from ..partitions import episodes
from ..queues import on_queue
from ..sources import HUMAN_CHECKPOINTS, PROJECT_FILE
from ..stage import APPROVED_CHECK, EXIT_GATE_BLOCKED, bad_input

CHECKPOINT_VERSION = "checkpoint@1"
REQUESTER = "naos"  # who records a review request in the audit trail (a person records the decision)
# the step an approval lets go on, by checkpoint: what `naos render` names when it pauses
GATED = {"approve_canon_diff": "shot_list", "approve_shotlist_timing_lock": "asset_manifest",
         "approve_external_spend": "render_plan", "approve_character_packs": "shot_clips"}
CHECKPOINT_ASSETS = {"approve_canon_diff": "canon_diff_approval",
                     "approve_shotlist_timing_lock": "shotlist_timing_lock",
                     "approve_external_spend": "external_spend_approval",
                     "approve_character_packs": "character_pack_approval"}
KINDS = {"approval"}


def _ui_link(naos: NaosHome, run_id: str) -> str:
    from sensors.alerting import AlertEmitter

    return f"{AlertEmitter.from_env(naos.naos_home).ui_url.rstrip('/')}/runs/{run_id}"


def _profile(context: AssetExecutionContext) -> str:
    """The render profile of this run (what the approvals sensor relaunches with)."""
    ops = (context.run.run_config or {}).get("ops", {})
    return ops.get("render_plan", {}).get("config", {}).get("profile", "preview_local")


def _approve_command(naos: NaosHome, project_file: str, episode: str, checkpoint_name: str) -> str:
    """The command that approves, as a shell on this host runs it (the run's NAOS_HOME and project file)."""
    return (f"NAOS_HOME={naos.naos_home} naos approve --project {project_file} --episode {episode} "
            f"--checkpoint {checkpoint_name} --by NAME")


def checkpoint(context: AssetExecutionContext, naos: NaosHome, project_id: str, episode: str, checkpoint_name: str,
               enabled: bool, artifact: str, sha: str, what: str, details: dict | None = None,
               project_file: str = "project.yaml") -> Iterator[Output | AssetCheckResult]:
    """Yield the Approval, pause (yield nothing), or fail with the rejection: see the module's docstring."""
    common = {"project_id": project_id, "episode_id": episode, "checkpoint": checkpoint_name, "artifact": artifact,
              "artifact_sha256": sha}
    figures = numbers(details)  # what is reviewed, as numbers Dagster plots (facts, shots, seconds, USD)
    if not enabled:
        approval = Approval.new(**common, decision="not_required")
    else:
        trail = AuditTrail(naos.registry())
        review = trail.review(project_id, episode, checkpoint_name, sha)
        if review is not None and review.status == "rejected":
            r = review.record
            raise Failure(
                description=f"{checkpoint_name}: {r['by']} rejected the {artifact} of {episode} ({sha[:12]}) at "
                            f"{r['at']}{': ' + r['note'] if r['note'] else ''}. Change it (new bytes get a new "
                            f"review), or approve these bytes with `naos approve`.",
                metadata={"naos/exit_code": EXIT_GATE_BLOCKED, "checkpoint": checkpoint_name,
                          "artifact_sha256": sha, "rejected_by": r["by"]},
                allow_retries=False)
        if review is None or review.status != "approved":
            record = review.record if review is not None else trail.append(
                **common, decision="requested", by=REQUESTER, note=what, run_id=context.run.run_id,
                link=_ui_link(naos, context.run.run_id), details={**(details or {}), "profile": _profile(context)})
            if review is None:
                _request_alert(context, naos, episode, checkpoint_name, what)
            command = _approve_command(naos, project_file, episode, checkpoint_name)
            context.log.warning(
                f"{checkpoint_name}: waiting for approval of the {artifact} of {episode} ({sha[:12]}): {what}. "
                f"Approve in the UI (launch the review_checkpoint job for {episode}) or with `{command}`; "
                f"{GATED[checkpoint_name]} and everything after it wait.")
            # what the runs list shows at a glance: the run succeeded, but it stopped at a checkpoint
            context.instance.add_run_tags(context.run.run_id, {"naos/awaiting_approval": checkpoint_name,
                                                               "naos/episode": episode})
            context.log_event(AssetObservation(
                asset_key=context.asset_key, partition=episode,
                metadata={"naos/awaiting_approval": checkpoint_name, "naos/artifact_sha256": sha,
                          "naos/audit_seq": record["seq"], "naos/what": what,
                          "naos/gated": GATED[checkpoint_name]}))
            yield AssetCheckResult(
                check_name=APPROVED_CHECK, passed=False, severity=AssetCheckSeverity.ERROR,
                description=f"waiting for approval: {what}",
                metadata={"waiting_for": checkpoint_name, "what": what, "artifact_sha256": sha,
                          "gated": GATED[checkpoint_name], "approve_in_ui": f"review_checkpoint job, {episode}",
                          "approve_in_shell": command, **figures})
            return
        r = review.record
        approval = Approval.new(**common, decision="approved", approver=r["by"], note=r["note"],
                                audit_sha256=r["sha256"])
    yield Output(approval, data_version=DataVersion(approval.sha256()), metadata={
        "naos/sha256": approval.sha256(), "naos/code_version": CHECKPOINT_VERSION,
        "naos/parents": MetadataValue.json({artifact: sha}), "decision": approval.decision,
        "approver": approval.approver, **({"details": MetadataValue.json(details)} if details else {}), **figures})
    yield AssetCheckResult(
        check_name=APPROVED_CHECK, passed=True, severity=AssetCheckSeverity.ERROR,
        metadata={"decision": approval.decision, "approver": approval.approver or "", "artifact_sha256": sha,
                  **figures})


def _request_alert(context: AssetExecutionContext, naos: NaosHome, episode: str, checkpoint_name: str,
                   what: str) -> None:
    """The review request goes out like an alert (JSONL log, and the webhook when configured); never fails the run."""
    from sensors.alerting import Alert, AlertEmitter

    try:
        AlertEmitter.from_env(naos.naos_home).emit(Alert(
            "approval_requested", context.run.run_id, context.op_handle.name,
            f"{checkpoint_name} for {episode}: {what}", episode_id=episode))
    except Exception as exc:  # a lost notification must not change the run; the audit trail has the request
        context.log.warning(f"review request not sent: {exc}")


def _checkpoint_asset(name: str, checkpoint_name: str, description: str):
    return asset(name=name, partitions_def=episodes, io_manager_key="registry", code_version=CHECKPOINT_VERSION,
                 group_name="episode", kinds=KINDS, output_required=False, **on_queue(None),
                 deps=[PROJECT_FILE, HUMAN_CHECKPOINTS],
                 description=f"Review checkpoint ({checkpoint_name} in the project's human_checkpoints): {description}",
                 check_specs=[AssetCheckSpec(APPROVED_CHECK, asset=name, partitions_def=episodes,
                                             description="Fails (ERROR) while the episode waits for a reviewer here; "
                                                         "passes once approved, or when the checkpoint is off.")])


@_checkpoint_asset("canon_diff_approval", "approve_canon_diff",
                   "a person reviews the episode's proposed canon changes before the Canon Store commits them and "
                   "the shots are planned.")
def canon_diff_approval(context: AssetExecutionContext, project: NaosProject, naos: NaosHome,
                        canon_gate: GateReport, canon_diff: CanonDiff):
    with bad_input():
        proj = project.load()
    facts = len(canon_diff.added_facts) + len(canon_diff.modified_facts) + len(canon_diff.removed_facts)
    yield from checkpoint(
        context, naos, proj.id, canon_diff.episode_id, "approve_canon_diff", proj.human_checkpoints.approve_canon_diff,
        "CanonDiff", canon_diff.sha256(), f"{facts} canon change(s) passed the Canon Gate",
        {"added": len(canon_diff.added_facts), "modified": len(canon_diff.modified_facts),
         "removed": len(canon_diff.removed_facts), "gate": canon_gate.status}, project.project_file)


@_checkpoint_asset("shotlist_timing_lock", "approve_shotlist_timing_lock",
                   "a person reviews the shots' timing before it is locked (a later change means rendering every "
                   "shot again).")
def shotlist_timing_lock(context: AssetExecutionContext, project: NaosProject, naos: NaosHome, shot_list: ShotList):
    with bad_input():
        proj = project.load()
    yield from checkpoint(
        context, naos, proj.id, shot_list.episode_id, "approve_shotlist_timing_lock",
        proj.human_checkpoints.approve_shotlist_timing_lock, "ShotList timing lock", shot_list.timing_lock_hash,
        f"{len(shot_list.shots)} shots, {shot_list.total_duration_s:.1f} s, timing lock {shot_list.timing_lock_hash[:12]}",
        {"shots": len(shot_list.shots), "duration_s": shot_list.total_duration_s,
         "timing_lock_hash": shot_list.timing_lock_hash}, project.project_file)


@_checkpoint_asset("external_spend_approval", "approve_external_spend",
                   "a person reviews the estimated spend on paid picture and sound sources before any of them is "
                   "called (only above the project's approval threshold).")
def external_spend_approval(context: AssetExecutionContext, project: NaosProject, naos: NaosHome,
                            asset_manifest: AssetManifest):
    with bad_input():
        proj = project.load()
    estimate = build_resolver(project, proj, naos).estimate_external_spend(asset_manifest)
    # §27.2: only an estimate above the threshold needs a person; below it the checkpoint passes by itself
    needed = proj.human_checkpoints.approve_external_spend and estimate.total_usd > proj.cost_policy.approval_threshold_usd
    items = [{"need": i.need_id, "kind": i.kind, "source": i.source, "usd": i.cost_usd} for i in estimate.items]
    yield from checkpoint(
        context, naos, proj.id, asset_manifest.episode_id, "approve_external_spend", needed, "SpendEstimate",
        estimate.sha256(), f"up to {estimate.total_usd:.2f} USD on paid sources for {len(items)} asset(s)",
        {"total_usd": estimate.total_usd, "items": items}, project.project_file)


def character_pack_digest(plan: RenderPlan) -> tuple[str, list[dict]]:
    """What a character pack review sees: every character portrait and expression the plan resolved, with bytes."""
    packs = [{"asset_id": a.asset_id, "sha256": a.sha256, "source": a.source, "license_type": a.license_type}
             for a in plan.assets if a.kind in ("character", "expression")]
    packs.sort(key=lambda p: p["asset_id"])
    return sha256_bytes(canonical_json(packs)), packs


@_checkpoint_asset("character_pack_approval", "approve_character_packs",
                   "the character portraits and expressions are reviewed before any shot is drawn with them.")
def character_pack_approval(context: AssetExecutionContext, project: NaosProject, naos: NaosHome,
                            render_plan: RenderPlan):
    with bad_input():
        proj = project.load()
    sha, packs = character_pack_digest(render_plan)
    yield from checkpoint(
        context, naos, proj.id, render_plan.episode_id, "approve_character_packs",
        proj.human_checkpoints.approve_character_packs, "CharacterPacks", sha,
        f"{len(packs)} character image(s): {', '.join(p['asset_id'] for p in packs)}", {"packs": packs},
        project.project_file)
