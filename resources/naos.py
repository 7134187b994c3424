"""The two things every stage needs: the author's project, and NAOS_HOME (registry, instance, analytics)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource

from engines.writing import library_root, load_outline, load_project, load_story_arc
from io_managers import Registry
from schemas import EpisodeOutline, Project, StoryArc


def default_naos_home() -> str:
    return str(Path(os.environ.get("NAOS_HOME", ".naos")).resolve())


def default_project_file() -> str:
    return str(Path(os.environ.get("NAOS_PROJECT", "examples/pilot/project.yaml")).resolve())


class NaosProject(ConfigurableResource):
    """The project file (`NAOS_PROJECT`, default examples/pilot/project.yaml); episodes are its partitions."""

    project_file: str

    def load(self) -> Project:
        return load_project(self.project_file)

    def outline(self, project: Project, episode_id: str) -> tuple[EpisodeOutline | None, str | None]:
        return load_outline(project, self.project_file, episode_id)

    def story_arc(self, project: Project) -> tuple[StoryArc | None, str | None]:
        return load_story_arc(project, self.project_file)

    def library(self, project: Project) -> Path:
        return library_root(project, self.project_file)


class NaosHome(ConfigurableResource):
    """`NAOS_HOME` (default .naos): artifacts/ is the registry, scratch/ holds renders in progress."""

    naos_home: str

    def registry(self) -> Registry:
        return Registry.local(Path(self.naos_home) / "artifacts")

    def canon_store(self):
        """The Canon Store (§6.1): DuckDB in the embedded default."""
        from engines.canon import DuckDBCanonStore

        return DuckDBCanonStore(Path(self.naos_home) / "canon.duckdb")

    def recall_index(self):
        """The recall layer's vectors (§6.2), imported lazily: it loads torch."""
        from engines.recall import RecallIndex

        return RecallIndex(Path(self.naos_home) / "recall.duckdb")

    def scratch(self) -> Path:
        path = Path(self.naos_home) / "scratch"
        path.mkdir(parents=True, exist_ok=True)
        return path
