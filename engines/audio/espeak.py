"""espeak-ng (Debian package) as a voice engine: the last link of the chain, formant speech that installs anywhere.

A line is spoken by `espeak-ng --stdout` (text on stdin, never through a shell, UTF-8) at 22,050 Hz. Plain Python,
no Dagster. Missing espeak-ng raises `EspeakUnavailable`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np

NAME = "espeak-ng"
SAMPLE_RATE = 22050  # what `espeak-ng --stdout` writes for its own (non-mbrola) voices
RATE = (80, 450)  # words per minute; espeak-ng clamps below 80 and needs sonic above 450
PITCH = (0, 99)

INSTALL_HINT = "espeak-ng is not installed: `apt-get install espeak-ng`, or `make install` as root"

_VOICE_RE = re.compile(r"^[A-Za-z0-9_()][A-Za-z0-9_().-]*(\+[A-Za-z0-9_][A-Za-z0-9_ .-]*)?$")

# Voices offered to casting, best first (espeak-ng takes any of its voice ids; these are the distinct English ones).
VOICES: tuple[tuple[str, str, str, str], ...] = (
    ("en-gb+f3", "female", "gb", "British English, female 3"),
    ("en-us+f3", "female", "us", "American English, female 3"),
    ("en-gb-x-rp+f2", "female", "gb", "Received Pronunciation, female 2"),
    ("en-us+f4", "female", "us", "American English, female 4"),
    ("en-gb-scotland+f1", "female", "gb", "Scottish English, female 1"),
    ("en-us+f2", "female", "us", "American English, female 2"),
    ("en-gb", "male", "gb", "British English, male"),
    ("en-us", "male", "us", "American English, male"),
    ("en-gb-scotland", "male", "gb", "Scottish English, male"),
    ("en-gb-x-rp+m3", "male", "gb", "Received Pronunciation, male 3"),
    ("en-us+m3", "male", "us", "American English, male 3"),
    ("en-gb-x-gbcwmd", "male", "gb", "West Midlands English, male"),
    ("en-us+m7", "male", "us", "American English, male 7"),
    ("en-gb-x-gbclan+m2", "male", "gb", "Lancashire English, male 2"),
)


class EspeakUnavailable(RuntimeError):
    """espeak-ng cannot be run on this machine. The message says how to install it."""

    def __init__(self, detail: str = ""):
        super().__init__(INSTALL_HINT + (f" ({detail})" if detail else ""))


class EspeakError(RuntimeError):
    """espeak-ng failed on a line (not a missing install, not a bad voice id)."""


def _exe() -> str:
    """espeak-ng on PATH now (not cached: a later install, or a test's PATH, is honoured)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakUnavailable("espeak-ng not found on PATH")
    return exe


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "ESPEAK_DATA_PATH")}
    env["LC_ALL"] = "C.UTF-8"
    return env


@functools.cache
def _info(exe: str) -> tuple[str, Path | None]:
    """(version, data dir) from `espeak-ng --version`, e.g. ("1.51", /usr/lib/x86_64-linux-gnu/espeak-ng-data)."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, env=_env(), timeout=30, check=False)
    except OSError as exc:
        raise EspeakUnavailable(f"{exe}: {exc}") from exc
    match = re.search(r"text-to-speech:\s*(\S+)(?:\s+Data at:\s*(\S.*))?", out.stdout)
    if out.returncode != 0 or match is None:
        raise EspeakUnavailable(f"`{exe} --version` did not answer: {(out.stderr or out.stdout).strip()[:200]}")
    data = Path(match.group(2).strip()) if match.group(2) else None
    return match.group(1), data


def available() -> bool:
    try:
        _info(_exe())
    except EspeakUnavailable:
        return False
    return True


def version() -> str:
    """e.g. "espeak-ng 1.51". Raises EspeakUnavailable."""
    return f"espeak-ng {_info(_exe())[0]}"


def model_id() -> str:
    return "espeak-ng-data (formant)"


def voices() -> list[dict]:
    return [{"id": v, "gender": g, "accent": a, "label": label} for v, g, a, label in VOICES]


@functools.cache
def _variants(data_dir: Path | None) -> frozenset[str] | None:
    if data_dir is None or not (data_dir / "voices" / "!v").is_dir():
        return None
    return frozenset(p.name for p in (data_dir / "voices" / "!v").iterdir())


def check_voice(voice: str) -> None:
    """A well-formed id; a `+variant` must exist (espeak-ng silently ignores unknown variants). The base voice is
    checked by espeak-ng itself (it exits 1 on an unknown one)."""
    if not _VOICE_RE.match(voice):
        raise ValueError(f"invalid espeak-ng voice id {voice!r}: expected e.g. 'en-gb' or 'en-us+f3'")
    if "+" in voice:
        variant = voice.split("+", 1)[1]
        known = _variants(_info(_exe())[1])
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


def _voice_arg(exe: str, voice: str) -> str:
    """The -v argument for `voice`. espeak-ng 1.51 silently drops a +variant after some language codes ("en-gb+f3"
    speaks exactly as "en-gb"), but honours it after the voice file ("gmw/en+f3"), so a variant goes on the file."""
    if "+" not in voice:
        return voice
    base, variant = voice.split("+", 1)
    return f"{_voice_files(exe).get(base.lower(), base)}+{variant}"


def pcm_of_wav(wav: bytes) -> tuple[int, int, int, bytes]:
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


def synthesize(text: str, voice: str, *, rate: int = 165, pitch: int = 50, volume: int = 100) -> np.ndarray:
    """`text` in `voice` as int16 samples at 22,050 Hz. Raises EspeakUnavailable, ValueError (bad voice),
    EspeakError."""
    exe = _exe()
    check_voice(voice)
    cmd = [exe, "--stdout", "-b", "1", "-v", _voice_arg(exe, voice),
           "-s", str(rate), "-p", str(pitch), "-a", str(volume)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, env=_env(), timeout=120)
    except FileNotFoundError as exc:
        raise EspeakUnavailable(str(exc)) from exc
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if "voice does not exist" in err:
            raise ValueError(f"unknown espeak-ng voice {voice!r}: {err} (see `espeak-ng --voices`)")
        raise EspeakError(f"espeak-ng exit {proc.returncode} on voice {voice!r}: {err}")
    sr, channels, bits, data = pcm_of_wav(proc.stdout)
    if (sr, channels, bits) != (SAMPLE_RATE, 1, 16):
        raise EspeakError(f"espeak-ng voice {voice!r} wrote {sr} Hz/{channels} ch/{bits} bit, not 22050/1/16")
    return np.frombuffer(data[: len(data) & ~1], dtype="<i2")
