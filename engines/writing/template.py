"""Deterministic template script generator: each outline beat becomes one script element, in order.

No camera language here (§5.5): framing and movement belong to the shot planner.
"""

from __future__ import annotations

import re
from pathlib import Path

from schemas import ActionBeat, EpisodeOutline, InputError, Project, Script, ScriptElement, ScriptScene

GENERATOR = "template@1"

_SPACE = re.compile(r"\s+")


def _clean(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def check_outline(project: Project, outline: EpisodeOutline, outline_file: str | Path) -> None:
    """Reject references the project does not define, naming the outline file and field (exit 2 upstream)."""
    seen: set[str] = set()
    for s, scene in enumerate(outline.scenes):
        where = f"scenes[{s}]"
        if scene.id in seen:
            raise InputError(outline_file, f"{where}.id", f"scene id {scene.id!r} is used twice")
        seen.add(scene.id)
        if project.location(scene.location) is None:
            raise InputError(outline_file, f"{where}.location", f"unknown location {scene.location!r}; "
                             f"the project defines: {', '.join(loc.id for loc in project.locations)}")
        for c, cid in enumerate(scene.characters):
            if project.character(cid) is None:
                raise InputError(outline_file, f"{where}.characters[{c}]", f"unknown character {cid!r}; "
                                 f"the project defines: {', '.join(ch.id for ch in project.characters)}")
        for b, beat in enumerate(scene.beats):
            if isinstance(beat, ActionBeat):
                continue
            if project.character(beat.speaker) is None:
                raise InputError(outline_file, f"{where}.beats[{b}].speaker", f"unknown speaker {beat.speaker!r}; "
                                 f"the project defines: {', '.join(ch.id for ch in project.characters)}")
            if beat.speaker not in scene.characters:
                raise InputError(outline_file, f"{where}.beats[{b}].speaker",
                                 f"speaker {beat.speaker!r} is not among the scene's characters {scene.characters}")


def write_script(project: Project, outline: EpisodeOutline, episode_id: str, outline_sha256: str) -> Script:
    scenes: list[ScriptScene] = []
    for scene in outline.scenes:
        location = project.location(scene.location)
        assert location is not None, "check_outline first"
        elements: list[ScriptElement] = []
        lines = 0
        for beat in scene.beats:
            if isinstance(beat, ActionBeat):
                elements.append(ScriptElement(kind="action", text=_clean(beat.action), hold_s=beat.duration_s))
            else:
                lines += 1
                speaker = project.character(beat.speaker)
                assert speaker is not None, "check_outline first"
                elements.append(ScriptElement(
                    kind="dialogue", text=_clean(beat.line), speaker_id=speaker.id, speaker_name=speaker.name,
                    emotion=_clean(beat.emotion).lower() or "neutral", line_id=f"{scene.id}_l{lines:03d}",
                ))
        scenes.append(ScriptScene(
            id=scene.id, location_id=location.id, location_name=location.name, time=_clean(scene.time),
            characters=list(scene.characters), elements=elements,
        ))
    return Script.new(
        project_id=project.id, episode_id=episode_id, episode_number=outline.episode_number,
        title=_clean(outline.title) or f"{project.title} {episode_id}", summary=_clean(outline.summary),
        scenes=scenes, unresolved_threads=[_clean(t) for t in outline.unresolved_threads],
        generator=GENERATOR, source_outline_sha256=outline_sha256,
    )
