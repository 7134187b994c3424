"""RunSummary (§16) read back from a run's Dagster event log: stage timings, cache hits, errors."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import DagsterEventType, DagsterInstance

from naos_assets.stage import APPROVED_CHECK
from schemas import ErrorRecord, QualityCheck, RunSummary, StageTiming


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def _plain(value):
    return getattr(value, "value", value)


def _root_cause(error) -> str:
    """The innermost error's message: "Exceeded max_retries" says less than the ffmpeg error behind it."""
    if error is None:
        return "step failed"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def run_partition(run) -> str:
    """The episode a run is for: its `dagster/partition` tag, or a one-partition range (what a run launched for a
    partition range carries instead)."""
    if run is None:
        return ""
    tags = run.tags
    if tags.get("dagster/partition"):
        return tags["dagster/partition"]
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    return start if start and start == end else ""


def awaiting_approvals(instance: DagsterInstance, run_id: str) -> list[dict]:
    """The §27 checkpoints that paused this run: each one's observation (checkpoint, artifact hash, what, gated)."""
    out = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_OBSERVATION):
        meta = entry.dagster_event.event_specific_data.asset_observation.metadata
        if "naos/awaiting_approval" in meta:
            out.append({"checkpoint": _plain(meta["naos/awaiting_approval"]),
                        "artifact_sha256": _plain(meta["naos/artifact_sha256"]), "what": _plain(meta["naos/what"]),
                        "gated": _plain(meta["naos/gated"]), "audit_seq": _plain(meta["naos/audit_seq"]),
                        "episode_id": entry.dagster_event.partition or ""})
    return out


def failure_metadata(instance: DagsterInstance, run_id: str) -> list[tuple[str | None, str, dict]]:
    """(step, message, metadata) for every failed step of the run."""
    out = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = entry.dagster_event
        data = event.step_failure_data
        user = data.user_failure_data
        meta = {k: _plain(v) for k, v in (user.metadata if user else {}).items()}
        message = (user.description if user and user.description else None) or _root_cause(data.error)
        out.append((event.step_key, message, meta))
    return out


def build_run_summary(instance: DagsterInstance, run_id: str, project_id: str, episode_id: str, status: str,
                      exit_code: int, started: float, finished: float, extra_errors: list[ErrorRecord] = ()) -> RunSummary:
    starts: dict[str, float] = {}
    stages: list[StageTiming] = []
    cache: dict[str, bool] = {}
    shot_cache: dict[str, bool] = {}
    artifacts: dict[str, str] = {}
    checks: list[QualityCheck] = []
    listening: list[dict] = []
    warnings: list[str] = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        step = event.step_key
        if event.event_type == DagsterEventType.STEP_START:
            starts[step] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            stages.append(StageTiming(
                stage=step, status="success" if event.event_type == DagsterEventType.STEP_SUCCESS else "failure",
                duration_s=round(entry.timestamp - starts.get(step, entry.timestamp), 3)))
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            mat = event.event_specific_data.materialization
            meta = {k: _plain(v) for k, v in mat.metadata.items()}
            name = "/".join(mat.asset_key.path)
            if "naos/sha256" in meta:
                artifacts[name] = meta["naos/sha256"]
            if "naos/cache_hit" in meta:
                cache[name] = bool(meta["naos/cache_hit"])
            if "naos/shot_cache" in meta:
                shot_cache.update({k: bool(v) for k, v in meta["naos/shot_cache"].items()})
            if "naos/listening" in meta:
                listening = list(meta["naos/listening"])
            if "naos/warnings" in meta:
                warnings = list(meta["naos/warnings"])
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            check = event.event_specific_data
            if check.check_name == APPROVED_CHECK:
                continue
            checks.append(QualityCheck(name=check.check_name, passed=check.passed,
                                       detail=str(_plain(check.metadata.get("detail", "")))))
    for timing in stages:
        asset = timing.stage.split(".")[0]
        if timing.stage == asset and asset in cache:
            timing.cache_hit = cache[asset]
        elif "[" in timing.stage:
            timing.cache_hit = shot_cache.get(timing.stage.split("[", 1)[1].rstrip("]"))
    errors = [ErrorRecord(code=f"exit_{meta.get('naos/exit_code', 4)}", message=msg, stage=step,
                          recoverable=meta.get("naos/exit_code", 4) == 4)
              for step, msg, meta in failure_metadata(instance, run_id)]
    hits = sum(cache.values()) + sum(shot_cache.values())
    misses = (len(cache) - sum(cache.values())) + (len(shot_cache) - sum(shot_cache.values()))
    return RunSummary.new(
        run_id=run_id, project_id=project_id, episode_id=episode_id, status=status, exit_code=exit_code,
        started_at=_iso(started), finished_at=_iso(finished), duration_s=round(finished - started, 3),
        stages=stages, cache_hits=hits, cache_misses=misses, shot_cache=shot_cache,
        errors=[*errors, *extra_errors], artifacts=artifacts, quality_checks=checks, listening=listening,
        warnings=warnings,
    )


def queue_waits(instance: DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """Per step, (seconds queued, seconds executing): queued from the executor handing the step to a queue (the
    Celery executor's `celery_queue_wait` start marker) to a worker taking it (the end marker), executing from
    its first STEP_START to its success or failure (a step a killed worker gave back counts its re-run as executing).
    Steps of in-process and multiprocess runs are never queued (0)."""
    queued: dict[str, float] = {}
    waits: dict[str, float] = {}
    starts: dict[str, float] = {}
    out: dict[str, tuple[float, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        step = event.step_key
        if event.event_type == DagsterEventType.ENGINE_EVENT:
            data = event.event_specific_data
            if getattr(data, "marker_start", None) == "celery_queue_wait":
                queued[step] = entry.timestamp
            elif getattr(data, "marker_end", None) == "celery_queue_wait" and step in queued:
                waits[step] = waits.get(step, 0.0) + entry.timestamp - queued.pop(step)
        elif event.event_type == DagsterEventType.STEP_START:
            starts.setdefault(step, entry.timestamp)
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            out[step] = (round(waits.get(step, 0.0), 3), round(entry.timestamp - starts.get(step, entry.timestamp), 3))
    return out
