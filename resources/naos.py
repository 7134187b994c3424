"""The two things every stage needs: the author's project, and NAOS_HOME (registry, instance, analytics)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource

from engines.writing import library_root, load_outline, load_project, load_story_arc
from io_managers import Registry
from io_managers.registry import registry_from_env
from schemas import EpisodeOutline, Project, StoryArc


def default_naos_home() -> str:
    return str(Path(os.environ.get("NAOS_HOME", ".naos")).resolve())


DEFAULT_CACHE_MAX_BYTES = 20 * 2**30


def parse_size(text: str | int) -> int:
    """Bytes from `20GiB`, `500MB`, `1.5G` or a plain integer (K/M/G/T are powers of 1024, KB/MB/GB/TB of 1000)."""
    if isinstance(text, int):
        return text
    value = text.strip().upper().replace(" ", "")
    units = {"TIB": 2**40, "GIB": 2**30, "MIB": 2**20, "KIB": 2**10, "TB": 10**12, "GB": 10**9, "MB": 10**6,
             "KB": 10**3, "T": 2**40, "G": 2**30, "M": 2**20, "K": 2**10, "B": 1}
    number, factor = value, 1
    for unit, size in units.items():
        if value.endswith(unit) and value[: -len(unit)]:
            number, factor = value[: -len(unit)], size
            break
    try:
        size = float(number) * factor
    except ValueError:
        raise ValueError(f"{text!r} is not a size (e.g. 20GiB, 500MB, 1048576)") from None
    if size < 0:
        raise ValueError(f"{text!r}: a size cannot be negative")
    return int(size)


def default_cache_max_bytes() -> int:
    """NAOS_CACHE_MAX_BYTES (e.g. 20GiB), default 20 GiB."""
    return parse_size(os.environ.get("NAOS_CACHE_MAX_BYTES", str(DEFAULT_CACHE_MAX_BYTES)))


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
    """`NAOS_HOME` (default .naos): the registry (artifacts/, or S3: registry_from_env), scratch/ holds renders in
    progress."""

    naos_home: str
    cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES  # §29.3: LRU budget for what only the cache holds

    def registry(self) -> Registry:
        return registry_from_env(self.naos_home)

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
