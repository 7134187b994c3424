"""flite (Debian main, `apt-get install flite`, 2.2-5) as a voice engine: the fallback between Kokoro and espeak-ng.

CMU's small synthesizer with its voices compiled in: kal16 (diphone), awb, rms and slt (clustergen), all 16 kHz.
A line goes in through a temporary text file (`-f`), never on the command line and never through a shell, so a
line starting with "-" is spoken, not parsed as an option; the WAV comes back through a temporary file (flite's
`-o -` writes a file named "-", not stdout). Speed is flite's `duration_stretch` (1/speed). flite reads bytes, not
UTF-8 (an "ê" comes out as junk letters), so the text is transliterated to ASCII first: NFKD, combining marks
dropped, a few letters NFKD leaves alone spelled out ("ß" -> "ss"), anything left dropped. Names should reach it
already respelled by the pronunciation table (engines/audio/text.py).

No trimming or levelling here: the caller (tts.py) does both for every engine alike. Plain Python, no Dagster.
Missing flite raises `FliteUnavailable`.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import wave
from pathlib import Path

import numpy as np

NAME = "flite"
SAMPLE_RATE = 16000  # every voice offered below; "kal" (8 kHz) is accepted but not offered
SPEED = (0.25, 4.0)

INSTALL_HINT = "flite is not installed: `apt-get install flite` (Debian main), or `make install` as root"

# The built-in voices offered to casting (`flite -lv` also lists "kal", 8 kHz, and "awb_time", which only says times).
VOICES: tuple[tuple[str, str, str, str], ...] = (
    ("slt", "f", "us", "US English, female (CMU ARCTIC slt)"),
    ("rms", "m", "us", "US English, male (CMU ARCTIC rms)"),
    ("awb", "m", "gb", "Scottish English, male (CMU ARCTIC awb)"),
    ("kal16", "m", "us", "US English, male (diphone, kal16)"),
)
_ACCEPTED = frozenset(v[0] for v in VOICES) | {"kal"}

# Letters NFKD does not decompose into ASCII: spelled the way an English reader would say them.
_SPELLED = str.maketrans({
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d",
    "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th", "ı": "i",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": ", ", "\u2026": "...",
})  # fmt: skip


class FliteUnavailable(RuntimeError):
    """flite cannot be run on this machine. The message says how to install it."""

    def __init__(self, detail: str = ""):
        super().__init__(INSTALL_HINT + (f" ({detail})" if detail else ""))


class FliteError(RuntimeError):
    """flite failed on a line (not a missing install, not a bad voice or speed)."""


def _exe() -> str:
    """flite on PATH now (not cached: a later install, or a test's PATH, is honoured)."""
    exe = shutil.which("flite")
    if exe is None:
        raise FliteUnavailable("flite not found on PATH")
    return exe


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME")}
    env["LC_ALL"] = "C"
    return env


@functools.cache
def _info(exe: str) -> tuple[str, frozenset[str]]:
    """(version, voices) from `flite --version` and `flite -lv`, e.g. ("2.2", {"kal", "kal16", "awb", ...})."""
    try:
        ver = subprocess.run([exe, "--version"], capture_output=True, text=True, env=_env(), timeout=30, check=False)
        lv = subprocess.run([exe, "-lv"], capture_output=True, text=True, env=_env(), timeout=30, check=False)
    except OSError as exc:
        raise FliteUnavailable(f"{exe}: {exc}") from exc
    match = re.search(r"version:\s*flite-(\d[\w.]*)", ver.stdout)
    listed = re.search(r"Voices available:(.*)", lv.stdout)
    if match is None or listed is None:
        raise FliteUnavailable(f"`{exe} --version`/`-lv` did not answer: {(ver.stderr or ver.stdout).strip()[:200]}")
    return match.group(1), frozenset(listed.group(1).split())


def available() -> bool:
    """True when flite runs here."""
    try:
        _info(_exe())
    except FliteUnavailable:
        return False
    return True


def version() -> str:
    """e.g. "flite 2.2". Raises FliteUnavailable."""
    return f"flite {_info(_exe())[0]}"


def model_id() -> str:
    """The voice set: the voices are compiled into libflite, so the flite version names them."""
    return f"flite-{_info(_exe())[0]} built-in voices ({' '.join(sorted(_ACCEPTED))})"


def voices() -> list[dict[str, str]]:
    """The offered voices this flite has, best first: {"id", "gender" ("f"/"m"), "accent" ("us"/"gb"), "label"}."""
    have = _info(_exe())[1]
    return [{"id": v, "gender": g, "accent": a, "label": label} for v, g, a, label in VOICES if v in have]


def ascii_text(text: str) -> str:
    """`text` as the ASCII flite can read: "Inês" -> "Ines", "Straße" -> "Strasse", curly quotes straightened."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_SPELLED))
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.encode("ascii", "ignore").decode("ascii").split())


def _check_voice(voice: str) -> None:
    if voice not in _ACCEPTED:
        known = ", ".join(v[0] for v in VOICES)
        raise ValueError(f"unknown flite voice {voice!r}; known: {known} (and 'kal', 8 kHz)")
    have = _info(_exe())[1]
    if voice not in have:
        raise ValueError(f"flite voice {voice!r} is not in this flite (`flite -lv`: {', '.join(sorted(have))})")


def synthesize(text: str, voice: str, speed: float = 1.0) -> tuple[np.ndarray, int]:
    """`text` in `voice` at `speed` (1.0 = the voice's own pace) as (int16 samples, sample rate), untrimmed.
    Deterministic: the same text, voice and speed give the same samples. Raises FliteUnavailable, ValueError (bad
    voice, speed, or nothing to say once in ASCII), FliteError."""
    exe = _exe()
    _check_voice(voice)
    if not (SPEED[0] <= speed <= SPEED[1]):
        raise ValueError(f"speed {speed} outside {SPEED[0]}..{SPEED[1]}")
    spoken = ascii_text(text)
    if not any(c.isalnum() for c in spoken):
        raise ValueError(f"nothing to say: {text!r} has no letters or digits flite can read")
    with tempfile.TemporaryDirectory(prefix="naos-flite-") as tmp:
        src, out = Path(tmp) / "line.txt", Path(tmp) / "line.wav"
        src.write_bytes(spoken.encode("ascii") + b"\n")
        # repr(): the shortest exact decimal, so one speed always gives one argument string
        cmd = [exe, "-voice", voice, "--setf", f"duration_stretch={1.0 / speed!r}", "-f", str(src), "-o", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, env=_env(), timeout=120, cwd=tmp)
        except FileNotFoundError as exc:
            raise FliteUnavailable(str(exc)) from exc
        if proc.returncode != 0 or not out.is_file():
            err = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
            raise FliteError(f"flite exit {proc.returncode} on voice {voice!r}: {err[:300]}")
        wav = out.read_bytes()
    try:
        with wave.open(io.BytesIO(wav)) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise FliteError(f"flite wrote an unreadable WAV for voice {voice!r}: {exc}") from exc
    if (channels, width) != (1, 2):
        raise FliteError(f"flite voice {voice!r} wrote {channels} ch/{8 * width} bit, not mono 16 bit")
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate


__all__ = [
    "INSTALL_HINT",
    "NAME",
    "SAMPLE_RATE",
    "VOICES",
    "FliteError",
    "FliteUnavailable",
    "ascii_text",
    "available",
    "model_id",
    "synthesize",
    "version",
    "voices",
]
