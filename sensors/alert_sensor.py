"""Alerts (seed 004 §33) from finished runs: failures, Canon Gate blocks and steps retried too often."""

from __future__ import annotations

import os
from collections import Counter

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunStatusSensorContext,
    run_status_sensor,
)

from naos_assets.run_summary import failure_metadata
from resources import NaosHome

from .alerting import Alert, AlertEmitter

EXIT_GATE_BLOCKED = 3


def run_alerts(instance: DagsterInstance, run_id: str, max_retries: int | None = None) -> list[Alert]:
    """The alerts a finished run raises, read from its event log."""
    limit = max_retries if max_retries is not None else int(os.environ.get("NAOS_ALERT_MAX_RETRIES", "2"))
    run = instance.get_run_by_id(run_id)
    episode = (run.tags.get("dagster/partition", "") if run else "") or ""
    alerts = []
    for step, message, meta in failure_metadata(instance, run_id):
        code = meta.get("naos/exit_code")
        if code == EXIT_GATE_BLOCKED and (step or "").startswith("canon_gate"):
            alerts.append(Alert("canon_blocked", run_id, step or "", message, episode_id=episode))
        elif code != EXIT_GATE_BLOCKED:  # a blocked publish is a gate doing its job, not a failure
            alerts.append(Alert("job_failed", run_id, step or "", message, episode_id=episode))
    restarts = Counter(e.dagster_event.step_key for e in instance.all_logs(run_id, of_type=DagsterEventType.STEP_RESTARTED))
    for step, count in sorted(restarts.items()):
        if count >= limit:
            alerts.append(Alert("excessive_retries", run_id, step, f"{step} was retried {count} times",
                                episode_id=episode))
    return alerts


@run_status_sensor(run_status=DagsterRunStatus.FAILURE, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=30, name="alert_on_failure",
                   description="job_failed and canon_blocked alerts (JSONL log, webhook when configured), "
                               "deduplicated for NAOS_ALERT_DEDUPE_S.")
def alert_on_failure(context: RunStatusSensorContext, naos: NaosHome):
    emitter = AlertEmitter.from_env(naos.naos_home)
    for alert in run_alerts(context.instance, context.dagster_run.run_id):
        emitter.emit(alert)


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=30, name="alert_on_retries",
                   description="excessive_retries alerts for runs that succeeded only after retrying a step.")
def alert_on_retries(context: RunStatusSensorContext, naos: NaosHome):
    emitter = AlertEmitter.from_env(naos.naos_home)
    for alert in run_alerts(context.instance, context.dagster_run.run_id):
        emitter.emit(alert)
