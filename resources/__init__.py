"""Dagster resources: where the project is and where NAOS keeps its state."""

from .naos import (
    NaosHome,
    NaosProject,
    default_cache_max_bytes,
    default_naos_home,
    default_project_file,
    parse_size,
)

__all__ = ["NaosHome", "NaosProject", "default_cache_max_bytes", "default_naos_home", "default_project_file",
           "parse_size"]
