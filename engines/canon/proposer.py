"""The CanonDiff Proposer (seed 004 §7): what an episode plan says changes in canon, as a pending CanonDiff.

It reads the plan only (never canon): the outline's new_facts, its threads opened and paid off, its year, and what
the scenes imply (where each character ends up, one timeline event). The Canon Gate and a human approve it later.
The diff holds the changes only, not the plan's hash: a plan edit that changes no fact (a line of dialogue) gives the
same diff, so its approval and the canon of every later episode stand (the Canon Store records the plan).
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas import STORY, ActionBeat, CanonDiff, CanonFact, DialogueBeat, EpisodePlan

from .fold import is_multi_valued

PROPOSER_VERSION = "canon-proposer@1"


def propose_diff(plan: EpisodePlan, *, relations: Iterable[str] = ()) -> CanonDiff:
    """The pending CanonDiff of one episode plan.

    `relations` (the project's relation names, e.g. canon.relations) only decides whether a relation fact is listed
    under added_facts (with it) or modified_facts (without); canon applies both the same way.
    """
    relations = set(relations)
    episode = plan.episode_id
    added: list[CanonFact] = []
    modified: list[CanonFact] = []
    removed: list[CanonFact] = []

    def fact(subject: str, attribute: str, value, scene: str | None = None) -> CanonFact:
        return CanonFact(subject=subject, attribute=attribute, value=value, episode_id=episode, scene_id=scene)

    located: set[str] = set()
    sets_year = False
    for nf in plan.new_facts:
        f = fact(nf.subject, nf.attribute, nf.value, nf.scene)
        if nf.remove:
            removed.append(f)
        elif is_multi_valued(nf.attribute, nf.subject, relations):
            added.append(f)
        else:
            modified.append(f)
        if nf.attribute == "location":
            located.add(nf.subject)
        sets_year = sets_year or (nf.subject == STORY and nf.attribute == "year")

    for thread in plan.unresolved_threads:
        added.append(fact(thread.id, "promise", thread.text))
    for thread_id in plan.resolves:
        modified.append(fact(thread_id, "status", "resolved"))
    if plan.year is not None and not sets_year:
        modified.append(fact(STORY, "year", plan.year))

    # Where each character ends up: the location of the last scene they appear in.
    last_scene: dict[str, tuple[str, str]] = {}
    for scene in plan.scenes:
        present = list(scene.characters)
        for beat in scene.beats:
            if isinstance(beat, DialogueBeat):
                present.append(beat.speaker)
            elif isinstance(beat, ActionBeat):
                present.extend(beat.actors)
        for cid in present:
            last_scene[cid] = (scene.location, scene.id)
    for cid in sorted(last_scene):
        if cid not in located:
            location, scene_id = last_scene[cid]
            modified.append(fact(cid, "location", location, scene_id))

    if plan.summary.strip():
        added.append(fact(STORY, "event", plan.summary.strip()))

    return CanonDiff.new(
        project_id=plan.project_id,
        episode_id=episode,
        arc_id=plan.arc_id,
        added_facts=added,
        modified_facts=modified,
        removed_facts=removed,
        justification=f"outline new_facts + scene presence of {episode}",
        approval_status="pending",
    )
