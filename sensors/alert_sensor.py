"""Alerts (seed 004 §33) from finished runs: failures, Canon Gate blocks, steps retried too often, and a budget that
stopped paid asset sources (§12.4)."""

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

from naos_assets.run_summary import _plain, failure_metadata, run_partition
from resources import NaosHome

from .alerting import Alert, AlertEmitter

EXIT_GATE_BLOCKED = 3


def run_alerts(instance: DagsterInstance, run_id: str, max_retries: int | None = None) -> list[Alert]:
    """The alerts a finished run raises, read from its event log."""
    limit = max_retries if max_retries is not None else int(os.environ.get("NAOS_ALERT_MAX_RETRIES", "2"))
    run = instance.get_run_by_id(run_id)
    episode = run_partition(run)
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
    alerts += budget_alerts(instance, run_id, episode)
    return alerts


def budget_alerts(instance: DagsterInstance, run_id: str, episode: str = "") -> list[Alert]:
    """budget_exceeded for every materialization whose `naos/budget_exceeded` metadata names needs the budget kept
    from paid sources (render_plan); raised for successful and failed runs alike."""
    alerts = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.dagster_event.event_specific_data.materialization
        stopped = _plain(mat.metadata.get("naos/budget_exceeded"))
        if not stopped:
            continue
        budget = _plain(mat.metadata.get("naos/budget")) or {}
        stage = entry.dagster_event.step_key or "/".join(mat.asset_key.path)
        alerts.append(Alert(
            "budget_exceeded", run_id, stage,
            f"the budget stopped paid asset sources for {len(stopped)} need(s): {', '.join(map(str, stopped))}; "
            f"local fallbacks used (remaining budget {budget.get('remaining_usd')} USD, spent "
            f"{budget.get('spent_usd')} USD this run, {budget.get('episode_spent_before_usd')} USD earlier for the "
            f"episode; cost_policy max_run_usd={budget.get('max_run_usd')}, max_episode_usd="
            f"{budget.get('max_episode_usd')})",
            episode_id=episode))
    return alerts


def emit_run_alerts(context: RunStatusSensorContext, naos: NaosHome) -> None:
    emitter = AlertEmitter.from_env(naos.naos_home)
    for alert in run_alerts(context.instance, context.dagster_run.run_id):
        emitter.emit(alert)


@run_status_sensor(run_status=DagsterRunStatus.FAILURE, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=30, name="alert_on_failure",
                   description="job_failed, canon_blocked and budget_exceeded alerts (JSONL log, webhook when "
                               "configured), deduplicated for NAOS_ALERT_DEDUPE_S.")
def alert_on_failure(context: RunStatusSensorContext, naos: NaosHome):
    emit_run_alerts(context, naos)


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=30, name="alert_on_retries",
                   description="excessive_retries alerts for runs that succeeded only after retrying a step, and "
                               "budget_exceeded alerts for runs whose budget stopped paid asset sources.")
def alert_on_retries(context: RunStatusSensorContext, naos: NaosHome):
    emit_run_alerts(context, naos)
