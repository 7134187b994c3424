"""Deterministic template script generator: each outline beat becomes one script element, in order.

No camera language here (§5.5): framing and movement belong to the shot planner.
"""

from __future__ import annotations

import re
from pathlib import Path

from schemas import ActionBeat, ContextPack, EpisodeOutline, EpisodePlan, InputError, Script, ScriptElement, ScriptScene

GENERATOR = "template@3"

_SPACE = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def check_outline(outline: EpisodeOutline, outline_file: str | Path) -> None:
    """Structural checks, naming the outline file and field (exit 2 upstream). Whether characters and places
    exist, live and may be there is the Canon Gate's question (exit 3), since canon changes across a season."""
    seen: set[str] = set()
    for s, scene in enumerate(outline.scenes):
        where = f"scenes[{s}]"
        if scene.id in seen:
            raise InputError(outline_file, f"{where}.id", f"scene id {scene.id!r} is used twice")
        seen.add(scene.id)
        for b, beat in enumerate(scene.beats):
            people = beat.actors if isinstance(beat, ActionBeat) else [beat.speaker]
            field = f"{where}.beats[{b}].actors" if isinstance(beat, ActionBeat) else f"{where}.beats[{b}].speaker"
            for cid in people:
                if cid not in scene.characters:
                    raise InputError(outline_file, field,
                                     f"{cid!r} is not among the scene's characters {scene.characters}")
    for f, fact in enumerate(outline.new_facts):
        if fact.scene is not None and fact.scene not in seen:
            raise InputError(outline_file, f"new_facts[{f}].scene",
                             f"no scene {fact.scene!r} in this outline (it has: {', '.join(sorted(seen))})")
    threads: set[str] = set()
    for t, thread in enumerate(outline.unresolved_threads):
        if thread.id in threads:
            raise InputError(outline_file, f"unresolved_threads[{t}].id", f"thread id {thread.id!r} is used twice")
        threads.add(thread.id)


def write_script(plan: EpisodePlan, pack: ContextPack) -> Script:
    """The script of one episode from its plan; names come from the context pack's canon, never old scripts."""
    names = {c.id: c.name for c in pack.characters}
    places = {loc.id: loc.name for loc in pack.locations}
    scenes: list[ScriptScene] = []
    for scene in plan.scenes:
        elements: list[ScriptElement] = []
        lines = actions = 0
        for beat in scene.beats:
            if isinstance(beat, ActionBeat):
                actions += 1  # an action beat's id is what a narrator's take of it is filed under
                elements.append(ScriptElement(kind="action", text=_clean(beat.action), hold_s=beat.duration_s,
                                              actors=list(beat.actors), line_id=f"{scene.id}_n{actions:03d}"))
            else:
                lines += 1
                elements.append(ScriptElement(
                    kind="dialogue", text=_clean(beat.line), speaker_id=beat.speaker,
                    speaker_name=names.get(beat.speaker, beat.speaker),
                    emotion=_clean(beat.emotion).lower() or "neutral", line_id=f"{scene.id}_l{lines:03d}",
                ))
        scenes.append(ScriptScene(
            id=scene.id, location_id=scene.location, location_name=places.get(scene.location, scene.location),
            time=_clean(scene.time), characters=list(scene.characters), elements=elements,
        ))
    return Script.new(
        project_id=plan.project_id, episode_id=plan.episode_id, episode_number=plan.episode_number,
        title=_clean(plan.title), summary=_clean(plan.summary), scenes=scenes,
        unresolved_threads=[_clean(t.text) for t in plan.unresolved_threads], generator=GENERATOR,
    )
