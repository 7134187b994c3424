"""Voice-over before the timing lock (seed 004 §19.0 Audio): every line of a script, voiced by its speaker's
profile (the narrator's for action beats when the project asks for narration), or estimated in no-voice mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas import Project, Script, VoiceOver, VoiceProfile, VoiceTake

from . import tts

VOICE_VERSION = "voice-over@1"
NARRATOR = "narrator"
WORDS_PER_SECOND = 2.6  # the no-voice estimate: unhurried speech


@dataclass(frozen=True)
class LineSpec:
    line_id: str
    speaker_id: str
    text: str
    emotion: str
    profile: VoiceProfile


def script_lines(script: Script, project: Project) -> list[LineSpec]:
    """The lines to voice, in script order: dialogue always, action beats when narration is on."""
    voices = {c.id: c.voice for c in project.characters}
    lines = []
    for scene in script.scenes:
        for el in scene.elements:
            if el.kind == "dialogue" and el.line_id and el.speaker_id:
                lines.append(LineSpec(el.line_id, el.speaker_id, el.text, el.emotion or "neutral",
                                      voices.get(el.speaker_id, VoiceProfile())))
            elif el.kind == "action" and el.line_id and project.audio.narration:
                lines.append(LineSpec(el.line_id, NARRATOR, el.text, "neutral", project.audio.narrator))
    return lines


def estimate_s(text: str) -> float:
    return round(max(1.2, len(text.split()) / WORDS_PER_SECOND), 3)


def _take(spec: LineSpec, *, duration_s: float, sha256: str | None, source: str) -> VoiceTake:
    p = tts.prosody(spec.profile, spec.emotion)
    return VoiceTake(line_id=spec.line_id, speaker_id=spec.speaker_id, text=spec.text, emotion=spec.emotion,
                     voice=p["voice"], rate=p["rate"], pitch=p["pitch"], volume=p["volume"], sha256=sha256,
                     duration_s=duration_s, source=source)


def voice_over(script: Script, script_sha256: str, project: Project,
               cached: Callable[[str], bytes | None], store: Callable[[str, bytes], str]) -> VoiceOver:
    """Voice every line. `cached(key)` returns a WAV synthesized before (the registry's TTS cache) or None;
    `store(key, wav)` keeps a new one and returns its sha256. Without espeak-ng: estimated durations, no audio."""
    lines = script_lines(script, project)
    if not tts.available():
        takes = [_take(s, duration_s=estimate_s(s.text), sha256=None, source="estimate") for s in lines]
        return VoiceOver.new(episode_id=script.episode_id, script_sha256=script_sha256, engine="none", voiced=False,
                             takes=takes)
    takes = []
    for spec in lines:
        key = tts.tts_cache_key(spec.text, spec.profile, spec.emotion)
        wav = cached(key)
        if wav is None:
            wav = tts.synthesize(spec.text, spec.profile, spec.emotion)
        sha = store(key, wav)
        takes.append(_take(spec, duration_s=round(tts.wav_duration(wav), 3), sha256=sha, source="tts"))
    return VoiceOver.new(episode_id=script.episode_id, script_sha256=script_sha256, engine=tts.engine_version(),
                         voiced=True, takes=takes)
