"""Sensors: the project file's episodes become partitions."""

from .project_sensor import episode_partitions_sensor

__all__ = ["episode_partitions_sensor"]
