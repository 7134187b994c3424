"""Runs launched from the UI (or anywhere but `naos render`) get their analytics rows too (docs/ANALYTICS.md).

`naos render` writes its run's Parquet files itself; these sensors skip any run whose files already exist.
"""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterRunStatus, DefaultSensorStatus, RunStatusSensorContext, run_status_sensor

from naos_assets.analytics import is_written, write_run
from resources import NaosHome, NaosProject
from schemas import InputError


def record_run_analytics(context: RunStatusSensorContext, project: NaosProject, naos: NaosHome) -> str:
    """Write the finished run's rows unless they are there already; returns what it did (also logged)."""
    home = Path(naos.naos_home)
    run_id = context.dagster_run.run_id
    if is_written(home, run_id):
        message = f"analytics: run {run_id} already written"
    else:
        try:
            proj = project.load()
        except InputError as exc:  # the run's rows still land, without a project id or a CPU price
            context.log.warning(f"analytics: project file is invalid ({exc}); costs recorded at 0 USD")
            proj = None
        write_run(home, context.instance, run_id, proj, registry=naos.registry())
        message = f"analytics: run {run_id} written to {home / 'analytics'}"
    context.log.info(message)
    return message


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=30, monitor_all_code_locations=False,
                   description="Writes a successful run's cost, timing and cache rows as Parquet files under "
                               "$NAOS_HOME/analytics (views in naos.duckdb), unless `naos render` already did.")
def analytics_success_sensor(context: RunStatusSensorContext, project: NaosProject, naos: NaosHome):
    record_run_analytics(context, project, naos)


@run_status_sensor(run_status=DagsterRunStatus.FAILURE, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=30, monitor_all_code_locations=False,
                   description="Writes a failed run's cost, timing and cache rows as Parquet files under "
                               "$NAOS_HOME/analytics (views in naos.duckdb), unless `naos render` already did.")
def analytics_failure_sensor(context: RunStatusSensorContext, project: NaosProject, naos: NaosHome):
    record_run_analytics(context, project, naos)
