"""Arc Generator -> Episode Planner (§7): an author's outline wins; otherwise the arc's beat expands into a plan.

The expansion is deterministic: one scene at the beat's place and time, each event an action beat.
"""

from __future__ import annotations

import re
from pathlib import Path

from schemas import (
    ActionBeat,
    EpisodeOutline,
    EpisodePlan,
    InputError,
    Project,
    SceneOutline,
    StoryArc,
    load_yaml_model,
    sha256_bytes,
)

PLANNER = "episode-planner@1"
_NUMBER = re.compile(r"^s\d{2}e(\d{2})$")


def load_story_arc(project: Project, project_file: str | Path) -> tuple[StoryArc | None, str | None]:
    """The project's story arc (None when it has none), checked against the project's episodes."""
    if project.story_arc is None:
        return None, None
    path = Path(project_file).parent / project.story_arc
    arc = load_yaml_model(path, StoryArc)
    known = {e.id for e in project.episodes}
    seen_arcs: set[str] = set()
    seen_beats: dict[str, str] = {}
    for a, item in enumerate(arc.arcs):
        if item.id in seen_arcs:
            raise InputError(path, f"arcs[{a}].id", f"arc id {item.id!r} is used twice")
        seen_arcs.add(item.id)
        for b, beat in enumerate(item.beats):
            field = f"arcs[{a}].beats[{b}].episode"
            if beat.episode not in known:
                raise InputError(path, field, f"{beat.episode!r} is not an episode of the project "
                                              f"(it has: {', '.join(sorted(known))})")
            if beat.episode in seen_beats:
                raise InputError(path, field, f"{beat.episode} already has a beat in arc {seen_beats[beat.episode]!r}")
            seen_beats[beat.episode] = item.id
    return arc, sha256_bytes(arc.canonical_bytes())


def _arc_of(arc: StoryArc | None, episode_id: str, reference: str | None):
    """(arc, beat) for the episode: the arc holding its beat, else the arc the outline names."""
    if arc is None:
        return None, None
    for item in arc.arcs:
        for beat in item.beats:
            if beat.episode == episode_id:
                return item, beat
    return next((item for item in arc.arcs if item.id == reference), None), None


def plan_episode(project: Project, project_file: str | Path, episode_id: str,
                 outline: EpisodeOutline | None, outline_sha: str | None,
                 arc: StoryArc | None, arc_sha: str | None) -> EpisodePlan:
    """The episode's plan. `outline_sha` and `arc_sha` are not part of it (a plan holds what the episode does, not
    the hash of the whole arc it came from); the parameters stay for callers that pass them."""
    arc_item, beat = _arc_of(arc, episode_id, outline.arc_reference if outline else None)
    arc_end = bool(arc_item and arc_item.beats[-1].episode == episode_id)
    common = {"project_id": project.id, "episode_id": episode_id, "arc_id": arc_item.id if arc_item else None,
              "arc_end": arc_end}
    if outline is not None:
        return EpisodePlan.new(
            **common, episode_number=outline.episode_number, source="outline",
            title=outline.title or f"{project.title} {episode_id}", summary=outline.summary, year=outline.year,
            scenes=outline.scenes, new_facts=outline.new_facts, unresolved_threads=outline.unresolved_threads,
            resolves=outline.resolves,
        )
    if beat is None:
        index = next(i for i, e in enumerate(project.episodes) if e.id == episode_id)
        raise InputError(project_file, f"episodes[{index}].outline",
                         f"{episode_id} has no outline and the story arc has no beat for it; add one or the other")
    match = _NUMBER.match(episode_id)
    scene = SceneOutline(id="sc01", location=beat.location, time=beat.time, characters=beat.characters,
                         beats=[ActionBeat(action=event) for event in beat.events])
    return EpisodePlan.new(
        **common, episode_number=int(match.group(1)) if match else 1, source="arc",
        title=beat.title or f"{project.title} {episode_id}", summary=beat.summary, year=beat.year, scenes=[scene],
        new_facts=beat.new_facts, unresolved_threads=beat.unresolved_threads, resolves=beat.resolves,
    )
