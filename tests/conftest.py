"""Shared fixtures: the pilot example run through the real writing and film engines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from engines.canon import fold, initial_canon, propose_diff
from engines.film import build_manifest, plan_shots
from engines.writing import build_context_pack, load_outline, load_project, load_story_arc, plan_episode, write_script
from schemas import AssetManifest, ContextPack, EpisodeOutline, EpisodePlan, Project, Script, ShotList

ROOT = Path(__file__).resolve().parent.parent
PILOT_PROJECT = ROOT / "examples" / "pilot" / "project.yaml"


@dataclass(frozen=True)
class Episode:
    project: Project
    outline: EpisodeOutline | None
    plan: EpisodePlan
    context: ContextPack
    script: Script
    shot_list: ShotList
    manifest: AssetManifest


def plans(project: Project, project_file: Path) -> dict[str, EpisodePlan]:
    arc, arc_sha = load_story_arc(project, project_file)
    out = {}
    for ep in project.episodes:
        outline, outline_sha = load_outline(project, project_file, ep.id)
        out[ep.id] = plan_episode(project, project_file, ep.id, outline, outline_sha, arc, arc_sha)
    return out


def run_pilot(episode_id: str, project_file: Path = PILOT_PROJECT) -> Episode:
    """narrative + canon + writing + film for one episode, as the pipeline chains them (earlier diffs approved;
    no recall, which needs the model and adds colour only)."""
    project = load_project(project_file)
    season = plans(project, project_file)
    order = [e.id for e in project.episodes]
    diffs = [propose_diff(season[e], relations=project.world.relations).model_copy(update={"approval_status": "approved"})
             for e in order[:order.index(episode_id)]]
    canon = fold(initial_canon(project), diffs, order, episode_id)
    plan = season[episode_id]
    context = build_context_pack(canon, canon.sha256(), plan, [], None)
    script = write_script(plan, context)
    shot_list = plan_shots(script, script.sha256())
    manifest = build_manifest(shot_list, shot_list.sha256(), project)
    outline, _ = load_outline(project, project_file, episode_id)
    return Episode(project, outline, plan, context, script, shot_list, manifest)


@pytest.fixture(scope="session")
def pipeline():
    """run_pilot itself, for tests that run the engines on their own project files."""
    return run_pilot


@pytest.fixture(scope="session")
def pilot() -> dict[str, Episode]:
    project = load_project(PILOT_PROJECT)
    return {ep.id: run_pilot(ep.id) for ep in project.episodes}
