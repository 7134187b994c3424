"""engines/audio/tts.py against the real espeak-ng and the bundled ffmpeg: voices differ, emotions change prosody,
bytes are deterministic, errors are clear. No mocks."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from engines.audio import tts
from schemas import VoiceProfile

ROOT = Path(__file__).resolve().parent.parent
LINE = "His coat is still here. He never leaves without his coat."
LOW = VoiceProfile(voice="en-gb", pitch=30)
HIGH = VoiceProfile(voice="en-us+f3", pitch=70)

needs_espeak = pytest.mark.skipif(not tts.available(), reason=tts.INSTALL_HINT)

# Prints the sha256 of a synthesized line; run in fresh interpreters (other hash seed, one core).
CHILD = """
import hashlib, sys
sys.path.insert(0, {root!r})
from engines.audio import tts
from schemas import VoiceProfile
wav = tts.synthesize({line!r}, VoiceProfile(voice="en-us+f3", pitch=70), "afraid")
print(hashlib.sha256(wav).hexdigest(), tts.tts_cache_key({line!r}, VoiceProfile(voice="en-us+f3", pitch=70), "afraid"))
"""


@pytest.fixture(scope="module")
def wavs() -> dict[tuple[str, str], bytes]:
    if not tts.available():
        pytest.skip(tts.INSTALL_HINT)
    return {(p.voice, e): tts.synthesize(LINE, p, e) for p in (LOW, HIGH) for e in ("neutral", "afraid", "grieving")}


# ---- prosody table (no espeak-ng needed) ------------------------------------------------------------------------


def test_pilot_emotions_are_all_in_the_table():
    import yaml

    used = set()
    for path in sorted((ROOT / "examples").glob("*/episodes/*.yaml")):
        for scene in yaml.safe_load(path.read_text()).get("scenes", []):
            used |= {b["emotion"] for b in scene.get("beats", []) if b.get("emotion")}
    assert used, "the examples use emotion tags"
    assert used <= set(tts.EMOTIONS), sorted(used - set(tts.EMOTIONS))


def test_prosody_directions_unknown_and_clamping():
    p = VoiceProfile(voice="en", pitch=50, rate=165, volume=100)
    neutral, afraid, grieving = (tts.prosody(p, e) for e in ("neutral", "afraid", "grieving"))
    assert neutral == {"voice": "en", "rate": 165, "pitch": 50, "volume": 100}
    assert afraid["rate"] > neutral["rate"] and afraid["pitch"] > neutral["pitch"]
    assert grieving["rate"] < neutral["rate"] and grieving["pitch"] < neutral["pitch"]
    assert grieving["volume"] < neutral["volume"]
    assert tts.prosody(p, "no-such-feeling") == tts.prosody(p, None) == tts.prosody(p, "") == neutral
    assert tts.prosody(p, "  Afraid ") == afraid
    extreme = VoiceProfile(voice="en", pitch=99, rate=450, volume=200)
    assert tts.prosody(extreme, "furious") == {"voice": "en", "rate": 450, "pitch": 99, "volume": 200}
    quiet = VoiceProfile(voice="en", pitch=0, rate=80, volume=0)
    assert tts.prosody(quiet, "grieving") == {"voice": "en", "rate": 80, "pitch": 0, "volume": 0}
    for e in tts.EMOTIONS:
        for prof in (p, extreme, quiet):
            q = tts.prosody(prof, e)
            assert 80 <= q["rate"] <= 450 and 0 <= q["pitch"] <= 99 and 0 <= q["volume"] <= 200


# ---- real synthesis ---------------------------------------------------------------------------------------------


@needs_espeak
def test_engine_version_names_espeak():
    assert tts.TTS_ENGINE_VERSION.startswith("espeak-ng 1.")
    assert tts.TTS_ENGINE_VERSION.endswith("/" + tts.ENGINE_NAME)


def test_canonical_wav_header(wavs):
    wav = wavs[("en-gb", "neutral")]
    assert wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt "
    fmt, channels, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", wav[20:36])
    assert (fmt, channels, rate, byte_rate, align, bits) == (1, 1, 48000, 96000, 2, 16)
    assert wav[36:40] == b"data" and struct.unpack("<I", wav[40:44])[0] == len(wav) - 44
    assert struct.unpack("<I", wav[4:8])[0] == len(wav) - 8
    assert b"LIST" not in wav[:44] and 2.0 < tts.wav_duration(wav) < 6.0


def test_two_voices_differ_in_f0(wavs):
    low, high = tts.estimate_f0(wavs[("en-gb", "neutral")]), tts.estimate_f0(wavs[("en-us+f3", "neutral")])
    assert 60 < low < high < 500
    assert high >= 1.2 * low, (low, high)


def test_emotion_moves_duration_and_pitch(wavs):
    for voice in ("en-gb", "en-us+f3"):
        afraid, neutral, grieving = (wavs[(voice, e)] for e in ("afraid", "neutral", "grieving"))
        assert tts.wav_duration(afraid) < tts.wav_duration(neutral) < tts.wav_duration(grieving)
        assert tts.wav_duration(grieving) > 1.3 * tts.wav_duration(afraid)
        assert tts.estimate_f0(afraid) > tts.estimate_f0(grieving)


@needs_espeak
def test_variant_after_a_language_code_is_honoured():
    """espeak-ng 1.51 drops "+f3" after "en-gb" by itself; the engine routes it through the voice file."""
    plain = tts.synthesize("Hello there.", VoiceProfile(voice="en-gb", pitch=50))
    female = tts.synthesize("Hello there.", VoiceProfile(voice="en-gb+f3", pitch=50))
    assert plain != female and tts.estimate_f0(female) > 1.2 * tts.estimate_f0(plain)


@needs_espeak
def test_identical_inputs_identical_bytes_across_processes(wavs):
    again = tts.synthesize(LINE, HIGH, "afraid")
    assert again == wavs[("en-us+f3", "afraid")]
    expected = f"{hashlib.sha256(again).hexdigest()} {tts.tts_cache_key(LINE, HIGH, 'afraid')}"
    code = CHILD.format(root=str(ROOT), line=LINE)
    runs = [([sys.executable, "-c", code], "1")]
    if shutil.which("taskset"):
        runs.append((["taskset", "-c", "0", sys.executable, "-c", code], "12345"))
    for cmd, seed in runs:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60, check=True)
        assert out.stdout.strip() == expected, (cmd, out.stderr)


@needs_espeak
def test_cache_key_changes_with_inputs_only():
    key = tts.tts_cache_key(LINE, HIGH, "afraid")
    assert len(key) == 64 and key == tts.tts_cache_key(LINE, HIGH, "afraid")
    assert key == tts.tts_cache_key("  His coat is still here.\n He never leaves without his coat. ", HIGH, "afraid")
    assert key == tts.tts_cache_key(LINE, VoiceProfile(voice="en-us+f3", pitch=70), "AFRAID")
    others = {
        tts.tts_cache_key(LINE + "!", HIGH, "afraid"),
        tts.tts_cache_key(LINE, LOW, "afraid"),
        tts.tts_cache_key(LINE, VoiceProfile(voice="en-us+f3", pitch=71), "afraid"),
        tts.tts_cache_key(LINE, VoiceProfile(voice="en-us+f3", pitch=70, rate=170), "afraid"),
        tts.tts_cache_key(LINE, VoiceProfile(voice="en-us+f3", pitch=70, volume=90), "afraid"),
        tts.tts_cache_key(LINE, HIGH, "grieving"),
        tts.tts_cache_key(LINE, HIGH, "afraid", sample_rate=44100),
    }
    assert key not in others and len(others) == 7
    # an unknown tag speaks as neutral, so it shares neutral's key (and bytes)
    assert tts.tts_cache_key(LINE, HIGH, "no-such-feeling") == tts.tts_cache_key(LINE, HIGH, "neutral")


@needs_espeak
def test_unknown_voice_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown espeak-ng voice 'xx-nowhere'"):
        tts.synthesize("Hello.", VoiceProfile(voice="xx-nowhere"))
    with pytest.raises(ValueError, match="unknown espeak-ng voice variant 'nosuch'"):
        tts.synthesize("Hello.", VoiceProfile(voice="en-gb+nosuch"))
    with pytest.raises(ValueError, match="invalid espeak-ng voice id '--help'"):
        tts.synthesize("Hello.", VoiceProfile(voice="--help"))
    with pytest.raises(ValueError, match="empty"):
        tts.synthesize(" \n ", LOW)


@needs_espeak
def test_awkward_text_is_spoken_safely(tmp_path):
    marker = tmp_path / "pwned"
    for text in (
        "-v xx \"quoted\" and 'single' quotes",
        "--help",
        f"$(touch {marker}); `touch {marker}`",
        "Naïve café, Ångström — “smart quotes” ☕ 漢字",
        "[[h@l'oU]] <b>not ssml</b> & done",
    ):
        wav = tts.synthesize(text, LOW, "curious")
        assert wav[:4] == b"RIFF" and tts.wav_duration(wav) > 0.3, text
    assert not marker.exists()
    # the text goes in as data: "--help" is spoken, not parsed (espeak-ng would print its usage and no audio)
    assert tts.wav_duration(tts.synthesize("--help", LOW)) > 0.3


def test_no_engine_raises_with_install_hint(tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from engines.audio import tts\n"
        "from schemas import VoiceProfile\n"
        "assert not tts.available()\n"
        "try:\n"
        "    tts.synthesize('Hello.', VoiceProfile())\n"
        "except tts.TTSUnavailable as exc:\n"
        "    print(exc)\n"
    )
    # an empty directory: no espeak-ng or flite on PATH; no Kokoro voices either
    env = {**os.environ, "PATH": str(tmp_path), "NAOS_KOKORO_VOICES": str(tmp_path / "none.npz")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "apt-get install espeak-ng" in out.stdout and "captions only" in out.stdout


def test_missing_engines_in_process(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert tts.installed_engines() == ["kokoro"]  # Kokoro is Python: PATH does not hide it
    assert not tts.engine_available("espeak-ng") and not tts.engine_available("flite")
    monkeypatch.setenv("NAOS_KOKORO_VOICES", str(tmp_path / "none.npz"))
    assert not tts.available()
    with pytest.raises(tts.TTSUnavailable, match="apt-get install espeak-ng"):
        tts.synthesize("Hello.", LOW)
    with pytest.raises(tts.TTSUnavailable, match="make install"):
        tts.tts_cache_key("Hello.", LOW, "neutral")
