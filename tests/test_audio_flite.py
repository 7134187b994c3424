"""engines/audio/flite.py against the real flite (Debian main): voices, durations, speed, determinism, errors,
awkward text. No mocks. Without flite the synthesis tests skip, but under CI=true they fail."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engines.audio import flite, tts

ROOT = Path(__file__).resolve().parent.parent
LINE = "Captain Marlow waited by the door of the lighthouse for an hour."
CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}

# Prints the sha256 of a synthesized line; run in fresh interpreters (other hash seed, one core).
CHILD = """
import hashlib, sys
sys.path.insert(0, {root!r})
from engines.audio import flite
pcm, rate = flite.synthesize({line!r}, "awb", 1.25)
print(rate, hashlib.sha256(pcm.tobytes()).hexdigest())
"""


def _need_flite() -> None:
    if not flite.available():
        if CI:
            pytest.fail(f"flite is required under CI=true: {flite.INSTALL_HINT}")
        pytest.skip(flite.INSTALL_HINT)


@pytest.fixture(scope="module")
def takes() -> dict[tuple[str, float], np.ndarray]:
    _need_flite()
    out = {}
    for voice in ("slt", "rms", "awb", "kal16"):
        for speed in (0.5, 1.0, 2.0):
            pcm, rate = flite.synthesize(LINE, voice, speed)
            assert rate == flite.SAMPLE_RATE == 16000
            out[(voice, speed)] = pcm
    return out


def _seconds(pcm: np.ndarray) -> float:
    return pcm.size / flite.SAMPLE_RATE


def _f0(pcm: np.ndarray) -> float:
    return tts.estimate_f0(tts.wav_bytes(pcm, flite.SAMPLE_RATE))


# ---- no flite needed --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ascii"),
    [
        ("Inês", "Ines"),
        ("Naïve café, Ångström", "Naive cafe, Angstrom"),
        ("Straße", "Strasse"),
        ("Søren Łukasz Æsir", "Soren Lukasz AEsir"),
        ("“smart” ‘quotes’ don’t", "\"smart\" 'quotes' don't"),
        ("wait — now… ﬁne", "wait , now... fine"),
        ("漢字 ☕ only", "only"),
        ("  spaced\n out ", "spaced out"),
    ],
)
def test_ascii_text(text, ascii):
    assert flite.ascii_text(text) == ascii


def test_missing_flite_raises_with_install_hint(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no flite on PATH
    assert not flite.available()
    with pytest.raises(flite.FliteUnavailable, match=r"apt-get install flite"):
        flite.synthesize("Hello.", "slt")
    with pytest.raises(flite.FliteUnavailable):
        flite.version()
    assert issubclass(flite.FliteUnavailable, RuntimeError)


# ---- real synthesis ---------------------------------------------------------------------------------------------


def test_version_model_and_voices():
    _need_flite()
    assert flite.NAME == "flite"
    assert flite.version().startswith("flite 2.")
    assert flite.version().split()[1] in flite.model_id()
    voices = flite.voices()
    assert [v["id"] for v in voices] == ["slt", "rms", "awb", "kal16"]
    assert {v["id"]: (v["gender"], v["accent"]) for v in voices} == {
        "slt": ("f", "us"), "rms": ("m", "us"), "awb": ("m", "gb"), "kal16": ("m", "us"),
    }  # fmt: skip
    assert all(v["label"] for v in voices)


def test_durations_are_plausible(takes):
    for voice in ("slt", "rms", "awb", "kal16"):
        pcm = takes[(voice, 1.0)]
        assert pcm.dtype == np.int16
        assert 2.0 < _seconds(pcm) < 6.0, (voice, _seconds(pcm))  # 12 words
        peak = int(np.abs(pcm.astype(np.int32)).max())
        assert 3000 < peak < 32767, (voice, peak)


def test_speed_changes_duration(takes):
    for voice in ("slt", "rms", "awb", "kal16"):
        slow, normal, fast = (_seconds(takes[(voice, s)]) for s in (0.5, 1.0, 2.0))
        assert slow > 1.7 * normal and fast < 0.6 * normal, (voice, slow, normal, fast)


def test_voices_differ(takes):
    digests = {hashlib.sha256(takes[(v, 1.0)].tobytes()).hexdigest() for v in ("slt", "rms", "awb", "kal16")}
    assert len(digests) == 4
    female, male = _f0(takes[("slt", 1.0)]), _f0(takes[("rms", 1.0)])
    assert 60 < male < female < 400 and female > 1.3 * male, (female, male)


def test_deterministic_in_process_and_in_new_processes():
    _need_flite()
    pcm, rate = flite.synthesize(LINE, "awb", 1.25)
    again, _ = flite.synthesize(LINE, "awb", 1.25)
    assert np.array_equal(pcm, again)
    expected = f"{rate} {hashlib.sha256(pcm.tobytes()).hexdigest()}"
    code = CHILD.format(root=str(ROOT), line=LINE)
    runs = [([sys.executable, "-c", code], "1")]
    if shutil.which("taskset"):
        runs.append((["taskset", "-c", "0", sys.executable, "-c", code], "12345"))
    for cmd, seed in runs:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=True)
        assert out.stdout.strip() == expected, (cmd, out.stderr)


def test_bad_voice_speed_and_empty_text():
    _need_flite()
    with pytest.raises(ValueError, match=r"unknown flite voice 'bob'; known: slt, rms, awb, kal16"):
        flite.synthesize("Hello.", "bob")
    with pytest.raises(ValueError, match="unknown flite voice '--help'"):
        flite.synthesize("Hello.", "--help")
    with pytest.raises(ValueError, match="unknown flite voice 'awb_time'"):
        flite.synthesize("Hello.", "awb_time")
    for speed in (0.0, -1.0, 10.0):
        with pytest.raises(ValueError, match="speed"):
            flite.synthesize("Hello.", "slt", speed)
    for text in ("", "  \n ", "☕ 漢字"):
        with pytest.raises(ValueError, match="nothing to say"):
            flite.synthesize(text, "slt")


def test_eight_khz_kal_is_accepted_but_not_offered():
    _need_flite()
    pcm, rate = flite.synthesize("Hello there.", "kal")
    assert rate == 8000 and pcm.size > 0.3 * rate
    assert "kal" not in {v["id"] for v in flite.voices()}


def test_awkward_text_is_spoken_safely(tmp_path):
    _need_flite()
    marker = tmp_path / "pwned"
    for text in (
        "-voice awb",
        "--help",
        "-o /tmp/x.wav",
        f"$(touch {marker}); `touch {marker}`",
        "Naïve café, Ångström — “smart quotes” ☕",
        "<speak>not ssml</speak> & done",
    ):
        pcm, rate = flite.synthesize(text, "slt")
        assert pcm.size > 0.3 * rate, text
    assert not marker.exists()
    # a leading "-" is data: "-voice awb" is said by slt (not switched to awb) and sounds like the words
    said, _ = flite.synthesize("-voice awb", "slt")
    words, _ = flite.synthesize("voice awb", "slt")
    assert abs(_seconds(said) - _seconds(words)) < 0.5


def test_non_ascii_is_transliterated():
    _need_flite()
    accented, _ = flite.synthesize("Inês waited at the café.", "rms")
    plain, _ = flite.synthesize("Ines waited at the cafe.", "rms")
    assert np.array_equal(accented, plain)
