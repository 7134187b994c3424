"""Dagster resources: where the project is and where NAOS keeps its state."""

from .naos import NaosHome, NaosProject, default_naos_home, default_project_file

__all__ = ["NaosHome", "NaosProject", "default_naos_home", "default_project_file"]
