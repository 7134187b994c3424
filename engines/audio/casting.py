"""Casting (seed 004 §19.0 Audio, "Voices"): which engine and voice speaks for each character and the narrator.

A character's `voice:` may name an engine and a voice id; what it leaves out is cast here, from the voices the engine
has and the character's data: gender from the casting hint or the description's pronouns, accent from the hint or the
project's. Casting is stable for a season: it depends on the project's characters (in their order) and on which
characters share a scene anywhere in the season, never on the episode being voiced. It gives every speaker a voice
of their own while the engine has enough; when it has fewer voices than speakers (flite has four), two characters
share a voice only if they never share a scene. The narrator speaks in every scene, so it is never shared.

Plain Python, no Dagster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from schemas import Project, VoiceProfile

NARRATOR = "narrator"

_SHE = re.compile(r"\b(she|her|hers|herself)\b", re.IGNORECASE)
_HE = re.compile(r"\b(he|him|his|himself)\b", re.IGNORECASE)


@dataclass(frozen=True)
class VoiceInfo:
    """One voice an engine has."""

    engine: str
    id: str
    gender: str  # "female" | "male"
    accent: str  # "us" | "gb"
    label: str = ""


@dataclass(frozen=True)
class Casting:
    """Who speaks a line: the engine, the voice and the profile's speed (and espeak-ng's pitch, rate, volume)."""

    engine: str
    voice: str
    profile: VoiceProfile  # the author's profile with engine and voice filled in
    cast: bool  # True: chosen here; False: as the author wrote it


class CastingError(ValueError):
    """No voice can be given without breaking a rule; the message names the speaker and the scene."""


def gender_of(profile: VoiceProfile, description: str = "") -> str | None:
    """The casting hint, else the pronouns of the description when they agree; None when unknown."""
    if profile.gender:
        return profile.gender
    she, he = len(_SHE.findall(description)), len(_HE.findall(description))
    if she > he:
        return "female"
    if he > she:
        return "male"
    return None


def engine_of(profile: VoiceProfile, voices: Mapping[str, list[VoiceInfo]]) -> str | None:
    """The engine a profile names, or the one whose voice list has its voice id (None: not known)."""
    if profile.engine:
        return profile.engine
    if profile.voice:
        for engine, listed in voices.items():
            if any(v.id == profile.voice for v in listed):
                return engine
    return None


_KOKORO_ID = re.compile(r"([ab])([fm])_[a-z]+")


def _described(voice: str | None, voices: Mapping[str, list[VoiceInfo]]) -> VoiceInfo | None:
    """A voice id's gender and accent: from the installed engines' lists, else from Kokoro's naming (a/b: American
    or British, f/m), so a Kokoro voice keeps what it sounds like on a machine without Kokoro."""
    named = next((v for vs in voices.values() for v in vs if v.id == voice), None)
    if named is None and voice and (m := _KOKORO_ID.fullmatch(voice)):
        named = VoiceInfo("kokoro", voice, {"f": "female", "m": "male"}[m[2]], {"a": "us", "b": "gb"}[m[1]])
    return named


def cast_voices(project: Project, voices: Mapping[str, list[VoiceInfo]], chain: list[str],
                together: Iterable[Iterable[str]] = (), *, force_engine: str | None = None) -> dict[str, Casting]:
    """Speaker id (each character, and "narrator") -> Casting.

    `voices`: engine -> its voices, for the engines installed here. `chain`: the engines to try, best first, for a
    speaker whose own engine is not installed or not named. `together`: sets of speakers that share a scene somewhere
    in the season. `force_engine`: every speaker on this engine (a draft preview, `NAOS_VOICE_ENGINE`); their voices
    are then cast on it, keeping the author's gender and accent.
    """
    installed = [e for e in chain if voices.get(e)]
    if force_engine:
        if not voices.get(force_engine):
            raise CastingError(f"voice engine {force_engine!r} is not installed here (installed: "
                               f"{', '.join(e for e in voices if voices[e]) or 'none'})")
        installed = [force_engine]
    if not installed:
        raise CastingError("no voice engine is installed (`make install`)")
    mates: dict[str, set[str]] = {}
    for group in together:
        group = set(group)
        for member in group:
            mates.setdefault(member, set()).update(group - {member})
    speakers = [(c.id, c.voice, c.description) for c in project.characters]
    speakers.append((NARRATOR, project.audio.narrator, ""))
    everyone = {sid for sid, _, _ in speakers}
    mates[NARRATOR] = everyone - {NARRATOR}
    for sid in everyone - {NARRATOR}:
        mates.setdefault(sid, set()).add(NARRATOR)

    def usable(engine: str | None) -> bool:  # an author's engine is used when installed, in the chain or not
        return engine == force_engine if force_engine else bool(engine and voices.get(engine))

    out: dict[str, Casting] = {}
    pending = []
    for sid, profile, description in speakers:  # the author's choices first: they are fixed
        engine = engine_of(profile, voices)
        known = {v.id: v for v in voices.get(engine or "", [])}
        if force_engine is None and usable(engine) and profile.voice and (profile.voice in known or
                                                                           engine == "espeak-ng"):
            out[sid] = Casting(engine, profile.voice, profile.model_copy(update={"engine": engine}), cast=False)
        else:
            # a named voice that cannot be had here still says what it sounds like: its gender and accent
            named = _described(profile.voice, voices)
            hints = {"gender": gender_of(profile, description) or (named.gender if named else None),
                     "accent": profile.accent or (named.accent if named else None) or project.audio.accent}
            engine = engine if (usable(engine) and not profile.voice) else installed[0]
            pending.append((sid, profile, engine, hints))
    narrator_engine = next((e for sid, _p, e, _h in pending if sid == NARRATOR), None)
    for sid, profile, engine, hints in pending:
        taken_anywhere = {c.voice for c in out.values() if c.engine == engine}
        taken_nearby = {out[m].voice for m in mates.get(sid, ()) if m in out and out[m].engine == engine}
        pool = voices[engine]
        fits = [[v for v in pool if all(k in relax or hints[k] is None or getattr(v, k) == hints[k]
                                        for k in ("gender", "accent"))]
                for relax in ((), ("accent",), ("accent", "gender"))]
        fresh = [v for v in pool if v.id not in taken_anywhere]
        # the narrator, cast last, speaks in every scene: a character shares before taking the last fresh voice
        keep = sid != NARRATOR and engine == narrator_engine and NARRATOR not in out and len(fresh) <= 1
        # the accent gives way before a voice is shared, a voice is shared (with someone never met) before the gender
        # gives way: a fresh voice of the other gender would be a worse fit than a voice heard elsewhere
        order = [(fits[0], fresh), (fits[1], fresh), (fits[0], None), (fits[1], None), (fits[2], fresh), (fits[2], None)]
        choice = next((v for f, only in order if not (keep and only is not None) for v in f
                       if (v.id not in taken_anywhere if only is not None else v.id not in taken_nearby)), None)
        if choice is None:
            raise CastingError(f"{sid}: every {engine} voice ({len(pool)}) is taken by someone who shares a scene with "
                               f"{sid}; give {sid} a voice on another engine, or install one with more voices")
        out[sid] = Casting(engine, choice.id, profile.model_copy(update={"engine": engine, "voice": choice.id}),
                           cast=True)
    return out


def scene_clashes(casting: Mapping[str, Casting], together: Iterable[Iterable[str]]) -> list[str]:
    """Warnings for speakers who share a scene and a voice (only the author's own choices can do that)."""
    seen, out = set(), []
    for group in together:
        members = sorted(set(group) & set(casting))
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                ca, cb = casting[a], casting[b]
                if (ca.engine, ca.voice) == (cb.engine, cb.voice) and (a, b) not in seen:
                    seen.add((a, b))
                    out.append(f"{a} and {b} share a scene and the voice {ca.engine}:{ca.voice}")
    return out
