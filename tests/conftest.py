"""Shared fixtures: the pilot example run through the real writing and film engines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engines.film import build_manifest, plan_shots
from engines.writing import load_outline, load_project, write_script
from schemas import AssetManifest, EpisodeOutline, Project, Script, ShotList

ROOT = Path(__file__).resolve().parent.parent
PILOT_PROJECT = ROOT / "examples" / "pilot" / "project.yaml"


@dataclass(frozen=True)
class Episode:
    project: Project
    outline: EpisodeOutline
    script: Script
    shot_list: ShotList
    manifest: AssetManifest


def run_pilot(episode_id: str, project_file: Path = PILOT_PROJECT) -> Episode:
    """writing + film for one episode, exactly as the pipeline chains them."""
    project = load_project(project_file)
    outline, outline_sha = load_outline(project, project_file, episode_id)
    script = write_script(project, outline, episode_id, outline_sha)
    shot_list = plan_shots(script, script.sha256())
    manifest = build_manifest(shot_list, shot_list.sha256(), project)
    return Episode(project, outline, script, shot_list, manifest)


@pytest.fixture(scope="session")
def pipeline():
    """run_pilot itself, for tests that run the engines on their own project files."""
    return run_pilot


@pytest.fixture(scope="session")
def pilot() -> dict[str, Episode]:
    project = load_project(PILOT_PROJECT)
    return {ep.id: run_pilot(ep.id) for ep in project.episodes}
