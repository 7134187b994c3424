"""The season schedule: every episode of the project (or of one season) materialized on a cron, off by default.

Idempotent: an unchanged episode costs cache hits only. Each tick asks for one run per episode partition, keyed by
tick and episode so a re-evaluated tick launches nothing twice. The episodes come from the project file, so a new
episode is scheduled as soon as it is listed (its partition is added in the same tick).

Settings (environment): NAOS_SEASON_CRON (default `0 3 * * *`, 03:00 daily), NAOS_SEASON (e.g. `1`: only s01eNN;
default every season). Turn it on in the UI (Automation) or with `dagster schedule start season_schedule`.
"""

import os

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from io_managers import site_id
from resources import NaosProject
from schemas import InputError

from .jobs import render_episode
from .partitions import episodes


def season_episodes(episode_ids: list[str], season: str | None) -> list[str]:
    """The episodes of season `season` (`1` or `01`), or all of them."""
    if not season:
        return list(episode_ids)
    prefix = f"s{int(season):02d}e"
    return [e for e in episode_ids if e.startswith(prefix)]


@schedule(job=render_episode, cron_schedule=os.environ.get("NAOS_SEASON_CRON", "0 3 * * *"),
          default_status=DefaultScheduleStatus.STOPPED, name="season_schedule",
          description="Renders every episode of the season (NAOS_SEASON, default all), one run per episode; "
                      "unchanged episodes are cache hits. Off by default.")
def season_schedule(context: ScheduleEvaluationContext, project: NaosProject):
    try:
        proj = project.load()
    except InputError as exc:
        return SkipReason(f"project file is invalid: {exc}")
    chosen = season_episodes([e.id for e in proj.episodes], os.environ.get("NAOS_SEASON"))
    if not chosen:
        return SkipReason(f"no episodes in season {os.environ.get('NAOS_SEASON')}")
    known = set(context.instance.get_dynamic_partitions(episodes.name))
    missing = [e for e in chosen if e not in known]
    if missing:
        context.instance.add_dynamic_partitions(episodes.name, missing)
    tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "manual"
    return [RunRequest(run_key=f"{tick}:{episode}", partition_key=episode, tags={"naos/trigger": "season_schedule", "naos/site_id": site_id()})
            for episode in chosen]
