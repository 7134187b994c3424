"""A reviewer's decision on a §27 checkpoint: the one place it is recorded, whoever takes it (`naos approve` /
`naos reject`, or the `review_checkpoint` job launched from the Dagster UI).

The decision goes into the registry's hash-chained audit trail for the exact bytes the open request named; for
approve_canon_diff the Canon Store's status of that diff follows (later episodes fold approved diffs only). The
approvals sensor then launches the gated assets of the episode.
"""

from __future__ import annotations

from pathlib import Path

from io_managers import AuditTrail, Registry

DECISIONS = {"approve": "approved", "reject": "rejected"}


class DecisionError(ValueError):
    """Nothing to decide, or a decision without a name: the message says which, and what to do; `field` is the
    setting at fault (the CLI flag or the job's config field of the same name)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def open_request(trail: AuditTrail, project_id: str, episode: str, checkpoint: str | None) -> dict:
    """The open review request of `checkpoint` (or the only one of the episode when none is named)."""
    pending = trail.pending(project_id, episode, checkpoint or None)
    if not pending:
        what = checkpoint or "any checkpoint"
        raise DecisionError("checkpoint", f"nothing awaits {what} for {project_id}/{episode}: a run records a review request when it "
                            f"pauses there (`naos approvals` lists open ones)")
    if len(pending) > 1:
        names = ", ".join(r["checkpoint"] for r in pending)
        raise DecisionError("checkpoint", f"{project_id}/{episode} waits at {len(pending)} checkpoints ({names}): name one")
    return pending[0]


def decide(registry: Registry, canon_store_path: Path | None, project_id: str, episode: str, checkpoint: str | None,
           decision: str, by: str, note: str = "") -> tuple[dict, dict]:
    """Record `decision` ("approve" or "reject") by `by`; returns (the audit record, the request it answers)."""
    if decision not in DECISIONS:
        raise DecisionError("decision", f" {decision!r} is not one of {', '.join(DECISIONS)}")
    if not by.strip():
        raise DecisionError("by", "who decides must be named (it goes into the audit trail)")
    trail = AuditTrail(registry)
    request = open_request(trail, project_id, episode, checkpoint)
    verdict = DECISIONS[decision]
    record = trail.append(
        project_id=project_id, episode_id=episode, checkpoint=request["checkpoint"], artifact=request["artifact"],
        artifact_sha256=request["artifact_sha256"], decision=verdict, by=by.strip(), note=note or "",
        link=request["link"], details={"request_seq": request["seq"]})
    if request["checkpoint"] == "approve_canon_diff" and canon_store_path is not None:
        from engines.canon import DuckDBCanonStore

        DuckDBCanonStore(canon_store_path).set_status(project_id, episode, request["artifact_sha256"], verdict,
                                                      approver=by.strip(), note=note or "")
    return record, request


def refresh_views(home: Path, registry: Registry) -> str | None:
    """The `approvals` view in naos.duckdb reads the audit trail: refresh it (None, or why it was not)."""
    from naos_assets.analytics import ensure_views, export_audit_trail

    try:
        export_audit_trail(home, registry)
        ensure_views(home)
    except Exception as exc:  # noqa: BLE001 - the decision is recorded; the view is a report on it
        return f"analytics views not refreshed: {exc}"
    return None
