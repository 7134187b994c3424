"""After every successful run, the cache is pruned to its budget (§29.3: LRU with a configurable max size)."""

from __future__ import annotations

from datetime import timedelta

from dagster import DagsterRunStatus, DefaultSensorStatus, RunStatusSensorContext, run_status_sensor

from resources import NaosHome

# a run in flight may be about to read what it looked up: entries used this recently are never evicted
MIN_IDLE = timedelta(hours=1)


@run_status_sensor(run_status=DagsterRunStatus.SUCCESS, default_status=DefaultSensorStatus.RUNNING,
                   minimum_interval_seconds=60, monitor_all_code_locations=False,
                   description="Prunes the artifact cache (rendered shots, TTS takes, resolved assets, stage "
                               "artifacts) to NAOS_CACHE_MAX_BYTES, least recently used first; expired assets first.")
def cache_prune_sensor(context: RunStatusSensorContext, naos: NaosHome):
    report = naos.registry().cache_prune(naos.cache_max_bytes, min_idle=MIN_IDLE)
    context.log.info(f"cache: {report.expired} expired, {report.evicted} evicted, {report.freed_bytes} bytes freed; "
                     f"{report.kept_entries} entries ({report.kept_bytes} bytes) kept")
