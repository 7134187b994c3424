"""A whole season through the writing and canon engines, without Dagster: what `naos validate` checks.

Each episode's plan, canon (the initial canon folded with the diffs of earlier episodes that passed), context pack
(without recall, which is colour only), script and Canon Gate verdict, in episode order. Every passing diff counts
as approved here: the question is whether the season is consistent, not who has signed it off yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from engines.canon import GateResult, check_episode, fold, initial_canon, propose_diff
from schemas import Canon, CanonDiff, ContextPack, EpisodePlan, Project, Script

from .context import build_context_pack
from .inputs import load_outline
from .plan import load_story_arc, plan_episode
from .template import write_script


@dataclass(frozen=True)
class EpisodeCheck:
    plan: EpisodePlan
    canon: Canon
    context: ContextPack
    script: Script
    diff: CanonDiff
    result: GateResult


def plan_season(project: Project, project_file: str | Path) -> dict[str, EpisodePlan]:
    arc, arc_sha = load_story_arc(project, project_file)
    plans = {}
    for ep in project.episodes:
        outline, outline_sha = load_outline(project, project_file, ep.id)
        plans[ep.id] = plan_episode(project, project_file, ep.id, outline, outline_sha, arc, arc_sha)
    return plans


def check_season(project: Project, project_file: str | Path) -> Iterator[EpisodeCheck]:
    """Raises InputError (bad files) or CanonDiffError (a diff that cannot apply) as the engines do."""
    order = [e.id for e in project.episodes]
    initial = initial_canon(project)
    approved: list[CanonDiff] = []
    for episode, plan in plan_season(project, project_file).items():
        canon = fold(initial, approved, order, episode)
        context = build_context_pack(canon, plan, [], None)
        script = write_script(plan, context)
        diff = propose_diff(plan, relations=project.world.relations)
        result = check_episode(canon, script, diff, continuity_mode=project.continuity_mode, arc_end=plan.arc_end)
        if result.status == "passed":
            approved.append(diff.model_copy(update={"approval_status": "approved"}))
        yield EpisodeCheck(plan, canon, context, script, diff, result)
