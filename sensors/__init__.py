"""Sensors: the project file's episodes become partitions; the cache is pruned after every successful run."""

from .cache_sensor import cache_prune_sensor
from .project_sensor import episode_partitions_sensor

__all__ = ["cache_prune_sensor", "episode_partitions_sensor"]
