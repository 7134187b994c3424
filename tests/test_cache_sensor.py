"""The cache_prune_sensor prunes the registry's cache to NaosHome.cache_max_bytes after a successful run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dagster import DagsterInstance, asset, build_run_status_sensor_context, materialize

from io_managers import Registry
from resources import NaosHome
from sensors import cache_prune_sensor


@asset
def trivial() -> int:
    return 1


def test_sensor_prunes_least_recently_used_after_a_successful_run(tmp_path):
    registry = Registry.local(tmp_path / "artifacts")
    old = datetime.now(UTC) - timedelta(days=2)  # idle longer than the sensor's one-hour guard
    for i in range(3):
        registry.cache_put(f"k{i}", registry.put_bytes(bytes([i]) * 1000), "shot_clip", now=old + timedelta(minutes=i))
    instance = DagsterInstance.ephemeral()
    result = materialize([trivial], instance=instance)
    context = build_run_status_sensor_context(
        sensor_name="cache_prune_sensor", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_success_event(),
        resources={"naos": NaosHome(naos_home=str(tmp_path), cache_max_bytes=1500)})
    cache_prune_sensor(context)
    assert [e.key for e in registry.cache_entries()] == ["k2"]  # the two least recently used went
    assert registry.cache_stats()["bytes"] == 1000
