"""Reading an author's project file and episode outlines, with errors that name file and field."""

from __future__ import annotations

from pathlib import Path

from schemas import EpisodeOutline, InputError, Project, load_yaml_model, sha256_bytes

from .template import check_outline


def load_project(project_file: str | Path) -> Project:
    return load_yaml_model(project_file, Project)


def outline_path(project: Project, project_file: str | Path, episode_id: str) -> Path | None:
    """The episode's outline file; None when the episode is planned from the story arc alone."""
    ref = project.episode(episode_id)
    if ref is None:
        known = ", ".join(e.id for e in project.episodes)
        raise InputError(project_file, "episodes", f"no episode {episode_id!r} in this project (it has: {known})")
    return None if ref.outline is None else Path(project_file).parent / ref.outline


def load_outline(project: Project, project_file: str | Path,
                 episode_id: str) -> tuple[EpisodeOutline | None, str | None]:
    """The checked outline of one episode and the hash of its canonical form; (None, None) without one."""
    path = outline_path(project, project_file, episode_id)
    if path is None:
        return None, None
    outline = load_yaml_model(path, EpisodeOutline)
    check_outline(outline, path)
    return outline, sha256_bytes(outline.canonical_bytes())


def library_root(project: Project, project_file: str | Path) -> Path:
    return (Path(project_file).parent / project.asset_library).resolve()
