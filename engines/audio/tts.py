"""Local TTS voices over espeak-ng (seed 004 §19.0 Audio, "Voices"): emotion tags -> prosody -> canonical WAV bytes.

A line is spoken by `espeak-ng --stdout` (text on stdin, never through a shell, UTF-8), its leading and trailing
silence is trimmed at a fixed threshold with a fixed margin, and the 22,050 Hz PCM is resampled to 48 kHz by the
bundled ffmpeg (single thread, `-cpuflags 0`: swresample's SIMD kernels give different bytes from its C code, so we
pin the C path and the bytes do not depend on the CPU's instruction set). The WAV header is written here: a 44-byte RIFF
header, mono 16-bit PCM, no LIST/INFO chunk, no timestamps, so identical inputs give identical bytes.

Emotion tags never reach espeak-ng: `EMOTIONS` turns each into a rate multiplier, a pitch offset and a volume
multiplier applied to the character's `VoiceProfile`, clamped to espeak-ng's ranges. Unknown tags speak as neutral.

Plain Python, no Dagster. Missing espeak-ng raises `TTSUnavailable` (NAOS then renders captions only).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from schemas import VoiceProfile

ENGINE_NAME = "naos-tts@1"  # bump when anything here changes the bytes (table, trimming, resampling, header)

ESPEAK_RATE = (80, 450)  # words per minute; espeak-ng clamps below 80 and needs sonic above 450
ESPEAK_PITCH = (0, 99)
ESPEAK_VOLUME = (0, 200)
ESPEAK_SAMPLE_RATE = 22050  # what `espeak-ng --stdout` writes for its own (non-mbrola) voices

SILENCE_THRESHOLD = 164  # |sample| <= this (about -46 dBFS) counts as silence when trimming the ends
TRIM_MARGIN_S = 0.020  # kept either side of the first/last loud sample, so soft onsets and releases are not clipped

INSTALL_HINT = (
    "espeak-ng is not installed: `apt-get install espeak-ng`, or `make install` as root; "
    "NAOS renders without voices (captions only) until then"
)

_VOICE_RE = re.compile(r"^[A-Za-z0-9_()][A-Za-z0-9_().-]*(\+[A-Za-z0-9_][A-Za-z0-9_ .-]*)?$")


class TTSUnavailable(RuntimeError):
    """espeak-ng cannot be run on this machine. The message says how to install it."""

    def __init__(self, detail: str = ""):
        super().__init__(INSTALL_HINT + (f" ({detail})" if detail else ""))


class TTSError(RuntimeError):
    """espeak-ng or the resampler failed on a line (not a missing install, not a bad voice id)."""


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


def normalize_text(text: str) -> str:
    """NFC, whitespace runs collapsed to one space, ends stripped: what is spoken and what the cache key hashes."""
    return " ".join(unicodedata.normalize("NFC", text).split())


# ---- espeak-ng --------------------------------------------------------------------------------------------------


def _espeak_exe() -> str:
    """espeak-ng on PATH now (not cached: a later install, or a test's PATH, is honoured)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise TTSUnavailable("espeak-ng not found on PATH")
    return exe


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "ESPEAK_DATA_PATH")}
    env["LC_ALL"] = "C.UTF-8"
    return env


@functools.cache
def _espeak_info(exe: str) -> tuple[str, Path | None]:
    """(version, data dir) from `espeak-ng --version`, e.g. ("1.51", /usr/lib/x86_64-linux-gnu/espeak-ng-data)."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, env=_env(), timeout=30, check=False)
    except OSError as exc:
        raise TTSUnavailable(f"{exe}: {exc}") from exc
    match = re.search(r"text-to-speech:\s*(\S+)(?:\s+Data at:\s*(\S.*))?", out.stdout)
    if out.returncode != 0 or match is None:
        raise TTSUnavailable(f"`{exe} --version` did not answer: {(out.stderr or out.stdout).strip()[:200]}")
    data = Path(match.group(2).strip()) if match.group(2) else None
    return match.group(1), data


def available() -> bool:
    """True when espeak-ng runs here."""
    try:
        _espeak_info(_espeak_exe())
    except TTSUnavailable:
        return False
    return True


def engine_version() -> str:
    """e.g. "espeak-ng 1.51/naos-tts@1": part of every cache key. Raises TTSUnavailable without espeak-ng."""
    return f"espeak-ng {_espeak_info(_espeak_exe())[0]}/{ENGINE_NAME}"


def __getattr__(name: str) -> str:  # TTS_ENGINE_VERSION is read lazily: importing this module runs nothing
    if name == "TTS_ENGINE_VERSION":
        return engine_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _variants(data_dir: Path | None) -> frozenset[str] | None:
    if data_dir is None or not (data_dir / "voices" / "!v").is_dir():
        return None
    return frozenset(p.name for p in (data_dir / "voices" / "!v").iterdir())


def _check_voice(voice: str, data_dir: Path | None) -> None:
    """A well-formed id; a `+variant` must exist (espeak-ng silently ignores unknown variants). The base voice is
    checked by espeak-ng itself (it exits 1 on an unknown one)."""
    if not _VOICE_RE.match(voice):
        raise ValueError(f"invalid espeak-ng voice id {voice!r}: expected e.g. 'en-gb' or 'en-us+f3'")
    if "+" in voice:
        variant = voice.split("+", 1)[1]
        known = _variants(data_dir)
        if known is not None and variant not in known:
            raise ValueError(
                f"unknown espeak-ng voice variant {variant!r} in voice {voice!r}; "
                f"known variants: {', '.join(sorted(known)[:12])}, … (`espeak-ng --voices=variant`)"
            )


@functools.cache
def _voice_files(exe: str) -> dict[str, str]:
    """Language code -> voice file of the highest-priority voice (`espeak-ng --voices`), e.g. en-gb -> gmw/en."""
    out = subprocess.run([exe, "--voices"], capture_output=True, text=True, env=_env(), timeout=30, check=False)
    best: dict[str, tuple[int, str]] = {}
    for line in out.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and parts[0].isdigit():
            pty, lang, file = int(parts[0]), parts[1].lower(), parts[4]
            if lang not in best or pty < best[lang][0]:
                best[lang] = (pty, file)
    return {lang: file for lang, (_pty, file) in best.items()}


def _espeak_voice(exe: str, voice: str) -> str:
    """The -v argument for `voice`. espeak-ng 1.51 silently drops a +variant after some language codes ("en-gb+f3"
    speaks exactly as "en-gb"), but honours it after the voice file ("gmw/en+f3"), so a variant goes on the file."""
    if "+" not in voice:
        return voice
    base, variant = voice.split("+", 1)
    return f"{_voice_files(exe).get(base.lower(), base)}+{variant}"


def _pcm_of_wav(wav: bytes) -> tuple[int, int, int, bytes]:
    """(sample rate, channels, bits, data) of a RIFF WAV; tolerates espeak-ng's streaming sizes (0x7ffff000)."""
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= len(wav):
        cid, size = wav[pos : pos + 4], struct.unpack("<I", wav[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            audio_format, channels, rate = struct.unpack("<HHI", wav[body : body + 8])
            bits = struct.unpack("<H", wav[body + 14 : body + 16])[0]
            if audio_format != 1:
                raise ValueError(f"WAV format {audio_format} is not PCM")
            fmt = (rate, channels, bits)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("WAV data chunk before its fmt chunk")
            return (*fmt, wav[body : min(len(wav), body + size)])
        pos = body + size + (size & 1)
    raise ValueError("WAV without a data chunk")


def _espeak_pcm(text: str, p: dict) -> np.ndarray:
    exe = _espeak_exe()
    _version, data_dir = _espeak_info(exe)
    _check_voice(p["voice"], data_dir)
    cmd = [exe, "--stdout", "-b", "1", "-v", _espeak_voice(exe, p["voice"]),
           "-s", str(p["rate"]), "-p", str(p["pitch"]), "-a", str(p["volume"])]  # fmt: skip
    try:
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, env=_env(), timeout=120)
    except FileNotFoundError as exc:
        raise TTSUnavailable(str(exc)) from exc
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "voice does not exist" in err:
            raise ValueError(f"unknown espeak-ng voice {p['voice']!r}: {err} (see `espeak-ng --voices`)")
        raise TTSError(f"espeak-ng exit {proc.returncode} on voice {p['voice']!r}: {err}")
    rate, channels, bits, data = _pcm_of_wav(proc.stdout)
    if (rate, channels, bits) != (ESPEAK_SAMPLE_RATE, 1, 16):
        raise TTSError(f"espeak-ng voice {p['voice']!r} wrote {rate} Hz/{channels} ch/{bits} bit, not 22050/1/16")
    return np.frombuffer(data[: len(data) & ~1], dtype="<i2")


def _trim(pcm: np.ndarray, rate: int) -> np.ndarray:
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > SILENCE_THRESHOLD)
    if loud.size == 0:
        return pcm[:0]
    margin = round(TRIM_MARGIN_S * rate)
    return pcm[max(0, int(loud[0]) - margin) : int(loud[-1]) + 1 + margin]


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


def synthesize(text: str, profile: VoiceProfile, emotion: str | None = "neutral", *, sample_rate: int = 48000) -> bytes:
    """`text` spoken by `profile` with `emotion`, as canonical mono 16-bit PCM WAV bytes at `sample_rate`.

    Deterministic: the same (normalised text, effective prosody, espeak-ng version, sample rate) -> the same bytes,
    whatever the hash seed, core count or CPU (for one espeak-ng
    version and one ffmpeg build). Leading/trailing silence is trimmed to TRIM_MARGIN_S.
    Raises TTSUnavailable (no espeak-ng), ValueError (empty text, unknown voice or variant), TTSError (other failure).
    """
    spoken = normalize_text(text)
    if not spoken:
        raise ValueError("nothing to say: the text is empty")
    if not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate {sample_rate} outside 8000..192000 Hz")
    pcm = _trim(_espeak_pcm(spoken, prosody(profile, emotion)), ESPEAK_SAMPLE_RATE)
    return wav_bytes(_resample(pcm, ESPEAK_SAMPLE_RATE, sample_rate), sample_rate)


def tts_cache_key(
    text: str, profile: VoiceProfile, emotion: str | None = "neutral", *, sample_rate: int = 48000
) -> str:
    """sha256 of canonical JSON over what decides the bytes: normalised text, effective prosody, engine, sample rate.
    Two emotions with the same prosody (e.g. an unknown tag and "neutral") share a key, as they share the bytes."""
    payload = {
        "text": normalize_text(text),
        "prosody": prosody(profile, emotion),
        "engine": engine_version(),
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
    "engine_version",
    "estimate_f0",
    "normalize_text",
    "prosody",
    "synthesize",
    "tts_cache_key",
    "wav_bytes",
    "wav_duration",
    "wav_samples",
]
