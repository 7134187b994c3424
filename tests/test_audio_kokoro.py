"""engines/audio/kokoro.py against the real Kokoro model and voices: voices listed, lines sound plausible, speed and
voice change the audio, bytes are deterministic across calls, processes and thread counts, tampering is caught.
No mocks. Without the install this skips, except under CI, where it fails."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engines.audio import kokoro

ROOT = Path(__file__).resolve().parent.parent
LINE = "His coat is still here. He never leaves without his coat."
SHORT = "Where were you last night?"
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")

# Prints the sha256 of a synthesized line from a fresh interpreter (another hash seed, its own session).
CHILD = """
import hashlib, sys
sys.path.insert(0, {root!r})
from engines.audio import kokoro
print(hashlib.sha256(kokoro.synthesize({line!r}, {voice!r}).tobytes()).hexdigest())
"""


def digest(samples: np.ndarray) -> str:
    return hashlib.sha256(samples.tobytes()).hexdigest()


def seconds(samples: np.ndarray) -> float:
    return len(samples) / kokoro.SAMPLE_RATE


@pytest.fixture(scope="module")
def installed() -> None:
    if not kokoro.available():
        message = f"{kokoro.INSTALL_HINT} (voices file: {kokoro.voices_path()})"
        if CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def heart(installed) -> np.ndarray:
    return kokoro.synthesize(LINE, "af_heart")


# ---- no model needed ---------------------------------------------------------------------------------------------


def test_import_is_cheap_and_ids_are_pinned():
    code = "import sys; import engines.audio.kokoro as k; print(sorted(m for m in ('onnxruntime', 'kokoro_onnx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert kokoro.NAME == "kokoro" and kokoro.SAMPLE_RATE == 24000
    assert kokoro.model_id() == "kokoro-v1.0.int8 6e742170d309"


def test_voice_table_is_consistent():
    doc = json.loads((ROOT / "engines" / "audio" / "kokoro_voices.json").read_text(encoding="utf-8"))
    assert "af_nicole" in doc["excluded"] and "af_nicole" not in doc["voices"]
    for vid, entry in doc["voices"].items():
        assert vid[0] == {"us": "a", "gb": "b"}[entry["accent"]], vid
        assert vid[1] == entry["gender"], vid
        assert len(entry["sha256"]) == 64 and entry["label"], vid


# ---- the installed engine ------------------------------------------------------------------------------------------


def test_voices_listed(installed):
    listed = kokoro.voices()
    assert len(listed) >= 20
    assert {v["accent"] for v in listed} == {"us", "gb"}
    assert {v["gender"] for v in listed} == {"f", "m"}
    assert {(v["accent"], v["gender"]) for v in listed} == {("us", "f"), ("us", "m"), ("gb", "f"), ("gb", "m")}
    assert "af_nicole" not in {v["id"] for v in listed}
    assert kokoro.version() == "kokoro-onnx 0.6.1/onnxruntime 1.32.0"


def test_install_script_is_idempotent(installed):
    out = subprocess.run(
        [sys.executable, "scripts/install_kokoro.py", "--dest", str(kokoro.voices_path())],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "up to date" in out.stdout


def test_line_has_plausible_duration_and_level(heart):
    assert heart.dtype == np.float32 and heart.ndim == 1
    assert np.isfinite(heart).all()
    assert 1.8 < seconds(heart) < 6.0, seconds(heart)  # 11 words
    rms = float(np.sqrt(np.mean(heart.astype(np.float64) ** 2)))
    assert rms > 0.02 and float(np.abs(heart).max()) <= 1.0


def test_voices_differ_and_british_voice_works(heart):
    george = kokoro.synthesize(LINE, "bm_george")
    assert digest(george) != digest(heart)
    assert 1.8 < seconds(george) < 6.0


def test_speed_changes_duration(installed):
    slow, fast = kokoro.synthesize(SHORT, "am_michael", speed=0.8), kokoro.synthesize(SHORT, "am_michael", speed=1.2)
    assert seconds(slow) > 1.25 * seconds(fast), (seconds(slow), seconds(fast))


def test_phonemes_path_matches_text_path(heart):
    phonemes = kokoro.phonemize(LINE, "af_heart")
    assert "kˈoʊt" in phonemes  # "coat", American
    assert digest(kokoro.synthesize_phonemes(phonemes, "af_heart")) == digest(heart)
    # a British voice phonemizes en-gb
    assert "kˈəʊt" in kokoro.phonemize(LINE, "bf_emma")
    # IPA from a pronunciation table splices between pieces without gluing words together
    spliced = kokoro.phonemize("Captain ", "af_heart") + "ɪnˈɛʃ" + kokoro.phonemize(", you said so.", "af_heart")
    assert spliced == "kˈæptɪn ɪnˈɛʃ, juː sˈɛd sˈoʊ."


def test_deterministic_in_process_new_process_and_threads(heart):
    want = digest(heart)
    assert digest(kokoro.synthesize(LINE, "af_heart")) == want
    code = CHILD.format(root=str(ROOT), line=LINE, voice="af_heart")
    for threads in ("1", "2"):
        env = {**os.environ, "NAOS_KOKORO_THREADS": threads, "PYTHONHASHSEED": "random"}
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == want, f"NAOS_KOKORO_THREADS={threads} in a new process gave other samples"


def test_sixty_word_line(installed):
    text = (
        "When the storm finally broke over the harbour, the old keeper climbed the spiral stairs one last time, lit "
        "the great lantern with trembling hands, and watched the fishing boats come home one by one through the rain, "
        "counting each of them aloud until the last small light had passed the rocks and the bay was safe again."
    )
    assert len(text.split()) >= 55
    samples = kokoro.synthesize(text, "bf_emma", speed=1.5)
    assert 8.0 < seconds(samples) < 25.0, seconds(samples)


def test_bad_voice_is_a_value_error(installed):
    with pytest.raises(ValueError, match="unknown Kokoro voice 'af_nicole'.*af_heart"):
        kokoro.synthesize(LINE, "af_nicole")
    with pytest.raises(ValueError, match="known: .*bm_george"):
        kokoro.phonemize(LINE, "en-us")


def test_corrupted_model_part_is_detected(installed, monkeypatch):
    real = kokoro._read_part

    def tampered(package: str) -> bytes:
        data = bytearray(real(package))
        if package.endswith("_3"):
            data[len(data) // 2] ^= 0x01
        return bytes(data)

    monkeypatch.setattr(kokoro, "_read_part", tampered)
    with pytest.raises(kokoro.KokoroUnavailable, match="sha256") as raised:
        kokoro._engine_for.__wrapped__(kokoro.voices_path(), 1)  # the uncached loader: the model is checked on load
    assert "make install" in str(raised.value)


def test_corrupted_voice_is_detected(installed, tmp_path):
    with np.load(kokoro.voices_path()) as npz:
        arrays = {name: npz[name].copy() for name in npz.files}
    arrays["af_heart"][100, 0, 7] += 1e-3
    bad = tmp_path / "voices.npz"
    np.savez(bad, **arrays)
    with pytest.raises(kokoro.KokoroUnavailable, match="af_heart"):
        kokoro._engine_for.__wrapped__(bad, 1)
