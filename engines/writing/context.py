"""Episode Context Assembly (§6.4): the strict context pack every generation step reads.

Truth comes from the canon snapshot only. Recalled passages (§6.2) add colour and are marked as such; no step
reads an old script.
"""

from __future__ import annotations

from schemas import ActionBeat, Canon, ContextPack, EpisodePlan, RecallHit

CONTEXT_VERSION = "context-pack@1"
PAST_EVENTS = 12


def plan_people(plan: EpisodePlan) -> set[str]:
    people: set[str] = set()
    for scene in plan.scenes:
        people.update(scene.characters)
        for beat in scene.beats:
            people.update(beat.actors if isinstance(beat, ActionBeat) else [beat.speaker])
    return people


def scene_text(scene) -> str:
    beats = [b.action if isinstance(b, ActionBeat) else f"{b.speaker}: {b.line}" for b in scene.beats]
    return f"{scene.time} at {scene.location}. " + " ".join(beats)


def past_passages(plan: EpisodePlan) -> list[tuple[str, str]]:
    """(scene id, text) of an episode's plan: what the recall layer remembers of it."""
    return [(scene.id, scene_text(scene)) for scene in plan.scenes]


def recall_query(plan: EpisodePlan) -> str:
    return " ".join([plan.summary, *(scene_text(s) for s in plan.scenes)])


def build_context_pack(canon: Canon, plan: EpisodePlan, recalled: list[RecallHit],
                       recall_model: str | None) -> ContextPack:
    fact_subjects = {f.subject for f in plan.new_facts}
    people = plan_people(plan) | {c.id for c in canon.characters if c.id in fact_subjects}
    characters = [c for c in canon.characters if c.id in people]
    places = {s.location for s in plan.scenes} | {c.location for c in characters if c.location}
    places |= {loc.id for loc in canon.locations if loc.id in fact_subjects}
    props = [p for p in canon.props if p.id in fact_subjects or p.location in places]
    relevant = people | places | {p.id for p in props}
    knowledge = [k for k in canon.knowledge if k.character in people]
    known = {k.secret for k in knowledge}
    summaries = [e for e in canon.timeline_events if e.scene_id is None]
    return ContextPack.new(
        project_id=plan.project_id, episode_id=plan.episode_id, story_year=canon.story_year, characters=characters,
        locations=[loc for loc in canon.locations if loc.id in places], props=props,
        relationships=[r for r in canon.relationships if r.source in people or r.target in people],
        knowledge=knowledge, secrets=[s for s in canon.secrets if s.id in known],
        persistent_states=[f for f in canon.persistent_states if f.subject in relevant],
        past_events=canon.timeline_events[-PAST_EVENTS:],
        last_episode_summary=summaries[-1].text if summaries else None,
        open_promises=[p for p in canon.promises if p.status == "open"],
        recalled=recalled, recall_model=recall_model,
    )
