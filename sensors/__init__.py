"""Sensors: the project file's episodes become partitions; the cache is pruned after every successful run; finished
runs raise alerts (seed 004 §33); an approval launches the gated assets (§27); and get their analytics rows (docs/ANALYTICS.md) unless `naos render` wrote them."""

from .alert_sensor import alert_on_failure, alert_on_retries
from .analytics_sensor import analytics_failure_sensor, analytics_success_sensor
from .approval_sensor import approvals_sensor
from .cache_sensor import cache_prune_sensor
from .project_sensor import episode_partitions_sensor

__all__ = ["alert_on_failure", "alert_on_retries", "approvals_sensor", "analytics_failure_sensor", "analytics_success_sensor",
           "cache_prune_sensor", "episode_partitions_sensor"]
