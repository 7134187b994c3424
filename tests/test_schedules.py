"""The season schedule: one run request per episode of the season, partitions registered, run keys per tick."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import DagsterInstance, build_schedule_context

from naos_assets.partitions import episodes
from naos_assets.schedules import season_episodes, season_schedule
from resources import NaosProject
from tests.test_cli import _copy_pilot, _edit_yaml


def tick(instance, project_file, when):
    # closed here, not by the garbage collector in some later test (closing resets Dagster's defs-state context)
    with build_schedule_context(instance=instance, scheduled_execution_time=when,
                                resources={"project": NaosProject(project_file=str(project_file))}) as context:
        return season_schedule(context)


def test_a_tick_requests_every_episode_of_a_three_episode_season(tmp_path):
    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: d.update(episodes=d["episodes"][:3]))
    # a real instance (SQLite), entered so that Dagster's current defs-state storage is reset when it is left
    with DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        check_ticks(instance, project / "project.yaml")


def check_ticks(instance, project_file):
    first = tick(instance, project_file, datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert [r.partition_key for r in first] == ["s01e01", "s01e02", "s01e03"]
    assert set(instance.get_dynamic_partitions(episodes.name)) == {"s01e01", "s01e02", "s01e03"}
    assert all(r.tags["naos/trigger"] == "season_schedule" for r in first)
    again = tick(instance, project_file, datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert [r.run_key for r in again] == [r.run_key for r in first]  # a re-evaluated tick launches nothing twice
    nxt = tick(instance, project_file, datetime(2026, 11, 23, 3, tzinfo=UTC))
    assert not {r.run_key for r in nxt} & {r.run_key for r in first}


def test_season_filter_and_default_off():
    assert season_episodes(["s01e01", "s02e01", "s02e02"], "2") == ["s02e01", "s02e02"]
    assert season_episodes(["s01e01", "s02e01"], None) == ["s01e01", "s02e01"]
    assert season_schedule.default_status.value == "STOPPED" and season_schedule.job_name == "render_episode"
