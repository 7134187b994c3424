"""Shot planner: a small set of shot templates turns script elements into timed shots.

Templates (one shot each):
- establishing: opens every scene on the location; an opening action beat becomes this shot.
- action: one action beat, the scene's characters in a wide frame.
- dialogue: one line; medium, or close-up for intense emotions; in a scene with two or more characters a reply is
  seen over the listener's shoulder (the second line of each three) and every third line is a two-shot.
An action beat's verbs pose the characters it names (settings.yaml `poses`: "sinks" lies them down, "turns away"
turns them), and each character gets a name tag on their first appearance.
Durations come from the real voice-over (each line's measured take, synthesized before the lock), or in no-voice
mode from an estimate of speech time, or an author's hold; rounded up to half seconds so they are whole frames at
common frame rates. A narrated action beat gets a narrator line and a shot long enough for it. The timing lock hash covers the ordered
(shot id, duration in ms) list: any change of order or timing changes it.
"""

from __future__ import annotations

import math
import re

from engines.media.settings import Vocabulary, vocabulary
from schemas import (
    AudioIntent,
    Script,
    ScriptElement,
    ScriptScene,
    Shot,
    ShotLine,
    ShotList,
    canonical_json,
    sha256_bytes,
)

PLANNER_VERSION = "shot-templates@3"  # 3: mouth tracks on lines, name tags; the first shot is never empty

WORDS_PER_SECOND = 2.6  # unhurried narration pace
READING_WORDS_PER_SECOND = 3.0
LINE_LEAD_S = 0.3
LINE_TAIL_S = 0.7
MIN_SHOT_S = 2.0
MAX_AUTO_SHOT_S = 8.0
ESTABLISHING_S = 3.0
INTENSE = {"angry", "afraid", "scared", "furious", "tense", "desperate", "shocked", "grief", "sad", "urgent"}
SFX_WORDS = {
    "wave": "waves", "waves": "waves", "sea": "waves", "gull": "gulls", "gulls": "gulls", "door": "door",
    "rain": "rain", "storm": "storm", "thunder": "thunder", "wind": "wind", "footsteps": "footsteps",
    "steps": "footsteps", "bell": "bell", "engine": "engine", "fire": "fire", "radio": "radio", "knock": "knock",
}
MOODS = {"angry": "tense", "afraid": "tense", "tense": "tense", "sad": "melancholy", "grief": "melancholy",
         "happy": "warm", "warm": "warm", "hopeful": "warm", "curious": "mystery", "whisper": "mystery"}


def _half_seconds(seconds: float) -> float:
    return math.ceil(round(seconds * 2, 6)) / 2


def _speech_s(text: str) -> float:
    return max(1.2, len(text.split()) / WORDS_PER_SECOND)


def _sfx(texts: list[str]) -> list[str]:
    tags = {SFX_WORDS[w] for t in texts for w in (x.strip(".,;:!?'\"").lower() for x in t.split()) if w in SFX_WORDS}
    return sorted(tags)


def _mood(scene: ScriptScene) -> str:
    for el in scene.elements:
        if el.kind == "dialogue" and el.emotion in MOODS:
            return MOODS[el.emotion]
    return "neutral"


def timing_lock_hash(shots: list[Shot]) -> str:
    return sha256_bytes(canonical_json([[s.id, round(s.duration_s * 1000)] for s in shots]))


def _action_shot(scene: ScriptScene, n: int, el: ScriptElement | None, establishing: bool, scene_index: int,
                 mood: str, speech: dict[str, float]) -> dict:
    texts = [el.text] if el else []
    narration = speech.get(el.line_id) if el and el.line_id else None
    lines = []
    if el and el.hold_s:
        duration = el.hold_s
    elif el:
        duration = min(MAX_AUTO_SHOT_S, max(ESTABLISHING_S if establishing else MIN_SHOT_S,
                                            len(el.text.split()) / READING_WORDS_PER_SECOND + 1.0))
    else:
        duration = ESTABLISHING_S
    if narration is not None and el is not None and el.line_id:
        if not el.hold_s:  # an author's hold stands; the mix fits the take to it (or fails the shot)
            duration = max(duration, LINE_LEAD_S + narration + LINE_TAIL_S)
        # the slot is what the shot leaves after the lead-in: the mix fits the take to it, or fails the shot
        end = min(LINE_LEAD_S + narration, _half_seconds(duration))
        lines = [ShotLine(line_id=el.line_id, speaker_id="narrator", speaker_name="Narrator", text=el.text,
                          emotion="neutral", start_s=LINE_LEAD_S, end_s=round(max(end, LINE_LEAD_S + 0.1), 3))]
    return dict(
        template="establishing" if establishing else "action",
        duration_s=_half_seconds(duration),
        framing="establishing" if establishing else "wide",
        movement="pan_right" if scene_index % 2 == 0 else "pan_left",
        # an establishing shot may show the empty place, but the episode never opens on one
        characters=[] if establishing and el is None and scene_index > 0 else list(scene.characters),
        action_beats=texts,
        lines=lines,
        audio_intent=AudioIntent(vo_refs=[ln.line_id for ln in lines], sfx_tags=_sfx(texts), music_mood=mood),
        _actors=list(el.actors) if el else [],
    )


def _actors(action: str, on_screen: list[str], names: dict[str, str], authored: list[str]) -> list[str]:
    """Who an action's verb is about: the characters on screen whose first name it says ("The two men struggle and
    Tobias falls": Tobias), else the outline's `actors`."""
    said = set(re.findall(r"[\w']+", action.lower()))
    named = [c for c in on_screen if names.get(c, c).split()[0].lower() in said]
    return named or [c for c in authored if c in on_screen]


def _dialogue_shot(scene: ScriptScene, el: ScriptElement, previous_speaker: str | None, line_no: int,
                   mood: str, speech_s: dict[str, float]) -> dict:
    speech = speech_s.get(el.line_id) if el.line_id in speech_s else _speech_s(el.text)
    duration = max(MIN_SHOT_S, _half_seconds(LINE_LEAD_S + speech + LINE_TAIL_S))
    intense = (el.emotion or "") in INTENSE
    reply = len(scene.characters) >= 2 and previous_speaker not in (None, el.speaker_id)
    # a conversation cuts between framings: a reply over the listener's shoulder, every third line both in a
    # two-shot, the rest on the speaker (closer when the feeling is strong)
    two_shot = reply and line_no % 3 == 0
    over_shoulder = reply and not two_shot and not intense and line_no % 3 == 2
    characters = [el.speaker_id, previous_speaker] if two_shot or over_shoulder else [el.speaker_id]
    assert el.line_id and el.speaker_id and el.speaker_name
    return dict(
        template="dialogue",
        duration_s=duration,
        framing="two_shot" if two_shot else "over_shoulder" if over_shoulder else ("close_up" if intense else "medium"),
        movement="push_in" if intense else "static",
        characters=characters,
        expressions={el.speaker_id: el.emotion or "neutral"},
        lines=[ShotLine(line_id=el.line_id, speaker_id=el.speaker_id, speaker_name=el.speaker_name, text=el.text,
                        emotion=el.emotion or "neutral", start_s=LINE_LEAD_S,
                        end_s=round(LINE_LEAD_S + speech, 3))],
        audio_intent=AudioIntent(vo_refs=[el.line_id], music_mood=mood),
    )


def plan_shots(script: Script, speech: dict[str, float] | None = None,
               mouths: dict[str, str] | None = None, names: dict[str, str] | None = None,
               vocab: Vocabulary | None = None) -> ShotList:
    """`speech`: line id -> the measured duration of its voice-over take (absent: estimated from the words);
    `mouths`: line id -> the take's mouth track (engines.audio.lipsync), carried on the shot's line for the renderer;
    `names`: character id -> name, for the name tag of a character's first shot (default: the name it speaks
    under, else none); `vocab`: the setting vocabulary that reads each scene's light from its time."""
    speech = speech or {}
    mouths = mouths or {}
    names = {**{el.speaker_id: el.speaker_name for sc in script.scenes for el in sc.elements
                if el.speaker_id and el.speaker_name}, **(names or {})}
    shots: list[Shot] = []
    scene_actors: dict[str, list[str]] = {}  # shot id -> the actors an outline named for its action
    for scene_index, scene in enumerate(script.scenes):
        mood = _mood(scene)
        light = (vocab or vocabulary()).time_of_day(scene.time)
        specs: list[dict] = []
        elements = list(scene.elements)
        if elements and elements[0].kind == "action":
            specs.append(_action_shot(scene, 0, elements.pop(0), True, scene_index, mood, speech))
        else:
            specs.append(_action_shot(scene, 0, None, True, scene_index, mood, speech))
        previous_speaker: str | None = None
        line_no = 0
        for el in elements:
            if el.kind == "action":
                specs.append(_action_shot(scene, len(specs), el, False, scene_index, mood, speech))
            else:
                line_no += 1
                specs.append(_dialogue_shot(scene, el, previous_speaker, line_no, mood, speech))
                previous_speaker = el.speaker_id
        for n, spec in enumerate(specs, start=1):
            scene_actors[f"{scene.id}_sh{n:02d}"] = spec.pop("_actors", [])
            shots.append(Shot(
                id=f"{scene.id}_sh{n:02d}", scene_id=scene.id, index=len(shots), environment=scene.location_id,
                environment_notes=f"{scene.location_name}, {scene.time}", time_of_day=light, **spec,
            ))
    shots = [s.model_copy(update={"lines": [ln.model_copy(update={"mouth": mouths.get(ln.line_id, "")})
                                             for ln in s.lines]}) if s.lines else s for s in shots]
    words = vocab or vocabulary()
    for i, shot in enumerate(shots):  # an action's verbs pose the characters it names
        if shot.template == "action" and shot.action_beats:
            pose = words.pose_of(shot.action_beats[0])
            actors = _actors(shot.action_beats[0], shot.characters, names, scene_actors.get(shot.id, []))
            if pose and actors:
                shots[i] = shot.model_copy(update={"poses": {c: pose for c in actors}})
    for i, shot in enumerate(shots):  # a dip to black between scenes
        if i + 1 == len(shots) or shots[i + 1].scene_id != shot.scene_id:
            shots[i] = shot.model_copy(update={"ends_scene": True})
    if shots:  # the title over the opening shot
        shots[0] = shots[0].model_copy(update={"title": [f"Episode {script.episode_number}", script.title]})
    seen: set[str] = set()
    for i, shot in enumerate(shots):  # a name tag where each character first appears
        later = {c for s in shots[i + 1:] if s.scene_id == shot.scene_id for c in s.characters} if shot.title else set()
        new = {c: names[c] for c in shot.characters if c not in seen and c in names and c not in later}
        seen.update(c for c in shot.characters if c not in later)  # the title shot leaves its tags to the next shot
        if new:
            shots[i] = shot.model_copy(update={"introduces": new})
    total = round(sum(s.duration_s for s in shots), 3)
    return ShotList.new(episode_id=script.episode_id, shots=shots,
                        total_duration_s=total, timing_lock_hash=timing_lock_hash(shots))
