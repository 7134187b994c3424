"""engines/audio/listen.py with the real Whisper base model on real espeak-ng takes: a clear line comes back, a wrong
text and a spelled-out name are flagged, transcripts repeat, bad weights are refused. No mocks.

Without the recognizer (or espeak-ng) these skip, but under CI=true they fail: `make install` must provide them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require as _require

from engines.audio import listen, tts
from schemas import VoiceProfile

ROOT = Path(__file__).resolve().parent.parent
CLEAR = "The lamp was dark again last night. Someone was up there with him."
US = VoiceProfile(voice="en-us")

# Prints the transcript of CLEAR in a fresh interpreter (NAOS_LISTEN_THREADS set by the caller).
CHILD = """
import sys
sys.path.insert(0, {root!r})
from engines.audio import listen, tts
from schemas import VoiceProfile
print(listen.transcribe(*tts.wav_samples(tts.synthesize({line!r}, VoiceProfile(voice="en-us")))))
"""


@pytest.fixture(scope="module")
def listener() -> None:
    _require(listen.available(), listen.INSTALL_HINT)


@pytest.fixture(scope="module")
def take(listener) -> tuple[np.ndarray, int]:
    _require(tts.available(), tts.INSTALL_HINT)
    return tts.wav_samples(tts.synthesize(CLEAR, US))


@pytest.fixture(scope="module")
def heard(take) -> dict:
    return listen.check_line(*take, CLEAR)


# ---- no model needed ---------------------------------------------------------------------------------------------


def test_import_is_cheap():
    heavy = "{'faster_whisper', 'ctranslate2', 'jiwer', 'num2words'}"
    code = f"import sys, engines.audio.listen; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_resampling_and_input_checks():
    t = np.arange(48000) / 48000
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    y = listen.to_16k(x, 48000)
    assert y.dtype == np.float32 and y.size == 16000
    pcm = np.round(x * 32767).astype(np.int16)
    assert np.array_equal(listen.to_16k(pcm, 48000), listen.to_16k(pcm.astype(np.float64) / 32768, 48000))
    assert np.array_equal(listen.to_16k(x, 22050), listen.to_16k(x, 22050))  # same bytes every call
    with pytest.raises(ValueError, match="mono"):
        listen.to_16k(np.zeros((100, 2)), 16000)
    with pytest.raises(ValueError, match="int32"):
        listen.to_16k(np.zeros(100, dtype=np.int32), 16000)
    with pytest.raises(ValueError, match="NaN"):
        listen.to_16k(np.array([0.0, np.nan]), 16000)
    assert listen.transcribe(np.zeros(0), 22050) == ""  # nothing to hear: no model load


def test_threads_setting(monkeypatch):
    monkeypatch.setenv(listen.THREADS_ENV, "0")
    with pytest.raises(ValueError, match=listen.THREADS_ENV):
        listen._threads()


# ---- word error rate (jiwer, num2words) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "hypothesis", "rate", "misheard"),
    [
        ("Inês rowed out in 1887.", "Ines rowed out in 1887", 0.0, []),  # accents; a year read as a year
        ("in eighteen eighty-seven", "In 1887.", 0.0, []),  # Whisper writes the digits
        ("Thirty-five, and keeper of the Gull Point light.", "35 and Keeper of the gull point light", 0.0, []),
        ("One thousand, five hundred men.", "1,500 men", 0.0, []),  # comma-grouped: a quantity, not a year
        ("Storm's coming in the 1880s!", "Storms coming in the eighteen eighties.", 0.0, []),
        ("The lighthouse keeper", "the light house keeper", 0.0, []),  # spacing only
        ("Captain Marlow, did you see it?", "Captain Marlo did you see it", 1 / 6, ["Marlow"]),
        ("Aldo Finch was here.", "all the finish was here", 3 / 4, ["Aldo", "Finch"]),
        ("Inês rowed out in 1887.", "In the circumflex rode out in 1800 baby salmon", 1.0, ["Inês", "rowed", "1887"]),
        ("a b a", "c", 1.0, ["a", "b"]),  # unique, in order
        ("", "", 0.0, []),
        ("", "hello", 1.0, []),
        ("Hello there.", "", 1.0, ["Hello", "there"]),
    ],
)
def test_wer(listener, reference, hypothesis, rate, misheard):
    got_rate, got_misheard = listen.wer(reference, hypothesis)
    assert got_rate == pytest.approx(rate)
    assert got_misheard == misheard


# ---- the real model on espeak-ng takes ---------------------------------------------------------------------------


def test_version_names_the_pinned_weights(listener):
    assert listen.version().startswith("faster-whisper 1.2.1/ctranslate2 ")
    assert f"whisper-base {listen.MODEL_SHA256[:12]}" in listen.version()


def test_clear_line_is_heard(heard):
    assert heard["wer"] < 0.3, heard
    assert set(heard) == {"transcript", "wer", "misheard"}


def test_wrong_text_is_flagged(heard):
    rate, misheard = listen.wer("The boat sank in the harbour before the storm broke.", heard["transcript"])
    assert rate > 0.7
    assert {"boat", "sank", "harbour", "storm", "broke"} <= set(misheard)


def test_spelled_out_name_is_flagged(take):
    # espeak-ng reads "Inês" letter by letter ("In the circumflex"): the case a writer fixes with a pronunciation
    line = "Inês rowed out to the lighthouse."
    result = listen.check_line(*tts.wav_samples(tts.synthesize(line, US)), line)
    assert "Inês" in result["misheard"], result
    assert "lighthouse" not in result["misheard"], result


def test_transcripts_repeat(take, heard):
    samples, rate = take
    pcm = np.round(samples * 32768).clip(-32768, 32767).astype(np.int16)
    assert listen.transcribe(pcm, rate) == heard["transcript"]
    # a fresh process on two threads hears the same words
    env = {**os.environ, listen.THREADS_ENV: "2"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(root=str(ROOT), line=CLEAR)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == heard["transcript"]


def test_corrupt_weights_are_refused(listener):
    files = listen.read_model_files()
    model = bytearray(files["model.bin"])
    model[len(model) // 2] ^= 0x01
    with pytest.raises(listen.ListenerUnavailable, match=r"make install.*model\.bin: sha256 "):
        listen.load_model({**files, "model.bin": bytes(model)})
    missing = {k: v for k, v in files.items() if k != "tokenizer.json"}
    with pytest.raises(listen.ListenerUnavailable, match=r"tokenizer\.json: sha256 missing"):
        listen.load_model(missing)


def test_british_and_american_spellings_compare_equal():
    """Whisper writes American spellings: a British line heard right is not misheard."""
    assert listen.wer("The harbour's colour, the centre of the theatre; we realised it and travelled.",
                      "The harbor's color, the center of the theater. We realized it and traveled.") == (0.0, [])
    assert listen.wer("The harbour is dark.", "The harbor is bright.") == (0.25, ["dark"])
