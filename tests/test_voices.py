"""The voice stack on the real engines (Kokoro, flite, espeak-ng) and the real listener (faster-whisper, Whisper base):
the pilot's cast, pronunciations, levelling, delivery by emotion, the listening test, names without a pronunciation,
what a take records and the credits, and `naos voices`. No mocks.

Most of it runs on flite and espeak-ng (fast); Kokoro only where it is the point. Without an engine or the recognizer
these skip, but under CI=true they fail: `make install` must provide them."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from conftest import require as _require

from engines.audio import espeak, flite, kokoro, listen, tts
from engines.audio.casting import NARRATOR
from engines.audio.voice import cast, credit_lines, script_scenes, season_context, voice_over
from engines.writing import check_season, load_outline, load_project
from naos_assets.audio.listening import listening_check, voice_switches
from schemas import Pronunciation, ScriptElement, VoiceProfile, sha256_bytes

ROOT = Path(__file__).resolve().parent.parent
PILOT = ROOT / "examples" / "pilot" / "project.yaml"
TWO = "The lamp went dark at midnight. Nobody climbed the stair."  # two sentences: the pause between them counts
CLEAR = "The supply boat comes tomorrow."  # heard word for word in every flite voice
SLT = VoiceProfile(engine="flite", voice="slt")
EMMA = VoiceProfile(engine="kokoro", voice="bf_emma")


@pytest.fixture(scope="module")
def engines() -> None:
    for engine in ("flite", "espeak-ng"):
        _require(tts.engine_available(engine), f"{engine} is not installed: {tts.INSTALL_HINT}")


@pytest.fixture(scope="module")
def neural(engines) -> None:
    _require(tts.engine_available("kokoro"), kokoro.INSTALL_HINT)


@pytest.fixture(scope="module")
def listener(engines) -> None:
    _require(listen.available(), listen.INSTALL_HINT)


@pytest.fixture(scope="module")
def season():
    """The pilot project, its outlines and its scripts by episode id (the writing engine, no voices)."""
    project = load_project(PILOT)
    outlines = {e.id: load_outline(project, PILOT, e.id)[0] for e in project.episodes}
    scripts = {c.script.episode_id: c.script for c in check_season(project, PILOT)}
    return project, outlines, scripts


def _cache():
    """An in-memory registry cache: (kept, cached, store)."""
    kept: dict[str, bytes] = {}

    def store(key: str, blob: bytes) -> str:
        kept[key] = blob
        return sha256_bytes(blob)

    return kept, kept.get, store


def _script(script, *lines: tuple[str, str, str, str]):
    """`script` cut to its first scene, whose elements are these dialogue lines (line id, speaker, text, emotion)."""
    scene = script.scenes[0]
    elements = [ScriptElement(kind="dialogue", line_id=lid, speaker_id=sid, speaker_name=sid.title(), text=text,
                              emotion=emotion) for lid, sid, text, emotion in lines]
    characters = sorted({sid for _lid, sid, _t, _e in lines})
    return script.model_copy(update={"scenes": [scene.model_copy(update={"elements": elements,
                                                                         "characters": characters})]})


def _levels(wav: bytes) -> tuple[float, float]:
    """(active speech level: mean power of the 20 ms frames within 20 dB of the loudest, peak), in dBFS."""
    x, rate = tts.wav_samples(wav)
    hop = rate // 50
    frames = x[: x.size - x.size % hop].reshape(-1, hop)
    power = (frames**2).mean(axis=1)
    active = power[power >= power.max() * 0.01]
    return 10 * math.log10(float(active.mean())), 20 * math.log10(float(np.abs(x).max()))


# ---- the pilot's cast ----------------------------------------------------------------------------------------------


def test_the_pilots_cast_on_the_default_chain_is_kokoro(neural, season, monkeypatch):
    monkeypatch.delenv("NAOS_VOICE_ENGINE", raising=False)
    monkeypatch.delenv("NAOS_LISTENING_TEST", raising=False)
    project, outlines, _ = season
    force, listening = voice_switches()
    assert (force, listening) == (None, None)  # the project decides
    together, _ = season_context(project, outlines, "s01e01")
    casting = cast(project, together, force_engine=force)
    assert set(casting) == {"mara", "tobias", "ines", "aldo", NARRATOR}
    assert {c.engine for c in casting.values()} == {"kokoro"}
    assert len({c.voice for c in casting.values()}) == 5  # four characters and a narrator, each their own
    got = {sid: (c.voice, c.cast) for sid, c in casting.items()}
    assert got["mara"] == ("bf_emma", False) and got["tobias"] == ("bm_george", False)
    assert got["aldo"] == ("bm_fable", False)
    assert casting["tobias"].profile.speed == 0.92
    table = {v.id: v for v in tts.voices("kokoro")}
    assert got["ines"][1] and (table[got["ines"][0]].gender, table[got["ines"][0]].accent) == ("female", "us")
    assert got[NARRATOR][1] and table[got[NARRATOR][0]].accent == "gb"  # the project's accent


# ---- pronunciations ------------------------------------------------------------------------------------------------


def test_spoken_text_applies_the_pronunciations_and_reads_numbers(season):
    project, _, _ = season
    table = project.pronunciations
    assert table["Inês"] == Pronunciation(say="Inesh", ipa="iˈneʃ")
    assert tts.spoken_text("Inês came back in 1868.", table) == "Inesh came back in eighteen sixty-eight."
    # an engine that takes phonemes keeps the word, to splice its IPA in
    assert tts.spoken_text("Inês came back in 1868.", table, keep_ipa=True) == "Inês came back in eighteen sixty-eight."
    assert tts.spoken_text("Inês came back in 1868.") == "Inês came back in eighteen sixty-eight."


@pytest.mark.parametrize("profile", [SLT, VoiceProfile(engine="espeak-ng", voice="en-gb")], ids=["flite", "espeak-ng"])
def test_a_pronunciation_changes_what_flite_and_espeak_say(engines, season, profile):
    table = season[0].pronunciations
    line = "Inês came back in 1868."
    plain, respelled = tts.synthesize(line, profile), tts.synthesize(line, profile, pronunciations=table)
    assert plain != respelled
    assert tts.synthesize("Inesh came back in eighteen sixty-eight.", profile) == respelled  # the respelling, read
    assert tts.tts_cache_key(line, profile) != tts.tts_cache_key(line, profile, pronunciations=table)


def test_kokoro_speaks_the_ipa(neural, season):
    table = season[0].pronunciations
    line = "Inês waited."
    with_ipa = tts.synthesize(line, EMMA, pronunciations=table)
    assert with_ipa != tts.synthesize(line, EMMA)
    assert tts.tts_cache_key(line, EMMA, pronunciations=table) != tts.tts_cache_key(line, EMMA)
    # the IPA is what is spoken, not the respelling: a table without it gives other sounds
    say_only = {"Inês": Pronunciation(say="Inesh")}
    assert tts.tts_cache_key(line, EMMA, pronunciations=table) != tts.tts_cache_key(line, EMMA, pronunciations=say_only)


# ---- levelling and format ------------------------------------------------------------------------------------------


LEVELLED = {  # engine, voice, native rate
    "flite-slt": (VoiceProfile(engine="flite", voice="slt"), flite.SAMPLE_RATE),
    "flite-kal16": (VoiceProfile(engine="flite", voice="kal16"), flite.SAMPLE_RATE),
    "espeak-en-gb": (VoiceProfile(engine="espeak-ng", voice="en-gb"), espeak.SAMPLE_RATE),
    "espeak-en-us+f3": (VoiceProfile(engine="espeak-ng", voice="en-us+f3", pitch=70), espeak.SAMPLE_RATE),
}


@pytest.fixture(scope="module")
def takes(engines) -> dict[str, bytes]:
    return {name: tts.synthesize(TWO, profile) for name, (profile, _rate) in LEVELLED.items()}


def _format(wav: bytes) -> tuple[int, int, int, int]:
    with wave.open(io.BytesIO(wav)) as w:
        return w.getframerate(), w.getnchannels(), 8 * w.getsampwidth(), w.getnframes()


@pytest.mark.parametrize("name", list(LEVELLED))
def test_every_take_is_levelled_to_the_same_speech_level(takes, name):
    level, peak = _levels(takes[name])
    assert abs(level - tts.SPEECH_LEVEL_DB) <= 1.5, (name, level)
    assert peak <= tts.PEAK_CEILING_DB, (name, peak)


def test_takes_of_different_engines_end_within_a_decibel_and_a_half(takes):
    levels = [_levels(w)[0] for w in takes.values()]
    assert max(levels) - min(levels) <= 1.5, levels


@pytest.mark.parametrize("name", list(LEVELLED))
def test_every_take_is_48k_mono_16_bit_whatever_the_engine_rate(takes, name):
    wav, native = takes[name], LEVELLED[name][1]
    assert native != 48000
    rate, channels, bits, frames = _format(wav)
    assert (rate, channels, bits) == (48000, 1, 16)
    assert len(wav) == 44 + 2 * frames  # the canonical header, nothing else
    assert frames / rate == pytest.approx(tts.wav_duration(wav))


def test_a_kokoro_take_is_levelled_and_48k_too(neural):
    wav = tts.synthesize(TWO, EMMA)
    assert kokoro.SAMPLE_RATE == 24000 and _format(wav)[:3] == (48000, 1, 16)
    level, peak = _levels(wav)
    assert abs(level - tts.SPEECH_LEVEL_DB) <= 1.5 and peak <= tts.PEAK_CEILING_DB


def test_the_profile_volume_is_a_gain_after_levelling(takes):
    quiet = tts.synthesize(TWO, VoiceProfile(engine="espeak-ng", voice="en-us+f3", pitch=70, volume=50))
    loud = tts.synthesize(TWO, VoiceProfile(engine="espeak-ng", voice="en-us+f3", pitch=70, volume=200))
    base, _ = _levels(takes["espeak-en-us+f3"])
    assert _levels(quiet)[0] == pytest.approx(base + tts.gain_db_of(VoiceProfile(volume=50), "neutral"), abs=0.5)
    assert tts.gain_db_of(VoiceProfile(volume=50), "neutral") == -6.0
    level, peak = _levels(loud)
    assert level > base + 2  # louder, but
    assert peak <= tts.PEAK_CEILING_DB  # never over the ceiling


# ---- delivery ------------------------------------------------------------------------------------------------------


def test_grieving_is_slower_with_longer_pauses_than_afraid():
    voice = VoiceProfile(speed=0.92)
    assert tts.speed_of(voice, "grieving") < 0.92 < tts.speed_of(voice, "afraid")
    assert tts.pause_of("grieving") > tts.pause_of("neutral") > tts.pause_of("afraid")
    assert tts.gain_db_of(voice, "grieving") < 0 == tts.gain_db_of(voice, "afraid")


@pytest.mark.parametrize("profile", [SLT, EMMA], ids=["flite", "kokoro"])
def test_a_grieving_line_takes_longer_than_an_afraid_one(engines, profile):
    if profile.engine == "kokoro":
        _require(tts.engine_available("kokoro"), kokoro.INSTALL_HINT)
    grieving, afraid = (tts.wav_duration(tts.synthesize(TWO, profile, emotion)) for emotion in ("grieving", "afraid"))
    # slower speech and a longer pause between the two sentences: more than the pauses' difference alone
    assert grieving - afraid > tts.pause_of("grieving") - tts.pause_of("afraid"), (grieving, afraid)


# ---- the listening test --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def heard(listener, season):
    """A small script voiced on flite and listened to: a clear line, and a line whose cached take says another line
    (a stale cache entry: the audio no longer says the text)."""
    project, _, scripts = season
    script = _script(scripts["s01e01"], ("sc01_l001", "tobias", CLEAR, "neutral"),
                     ("sc01_l002", "mara", "Bring the lamp up the stair.", "grieving"))
    kept, cached, store = _cache()
    who = cast(project, script_scenes(script), force_engine="flite")["mara"]
    stale = tts.tts_cache_key("Bring the lamp up the stair.", who.profile, "grieving",
                              pronunciations=project.pronunciations)
    kept[stale] = tts.synthesize(CLEAR, who.profile, "grieving")
    vo = voice_over(script, project, cached, store, force_engine="flite", listening=True)
    return project, script, vo, kept


def test_a_line_heard_well_passes(heard):
    _, _, vo, _ = heard
    take = vo.take("sc01_l001")
    assert take.listening is not None and take.listening.wer < 0.25, take.listening
    assert vo.listening.recognizer == listen.version() and vo.listening.max_wer == 0.25
    assert vo.listening.note == ""


def test_a_take_that_does_not_say_its_line_is_flagged(heard):
    _, _, vo, _ = heard
    check = vo.take("sc01_l002").listening
    assert check.wer > 0.25, check
    assert "lamp" in check.misheard
    assert [c.line_id for c in vo.listening.over] == ["sc01_l002"]
    result = listening_check(vo)
    assert result.passed is False
    detail = result.metadata["detail"].value
    assert "sc01_l002" in detail and "lamp" in detail


def test_the_listening_test_is_cached_with_the_takes(heard):
    project, script, vo, kept = heard
    before = dict(kept)
    again = voice_over(script, project, kept.get, lambda k, b: sha256_bytes(b),
                       force_engine="flite", listening=True)
    assert again.takes == vo.takes and again.listening == vo.listening
    assert kept == before  # every take and every transcript came from the cache


def test_a_respelling_is_heard_as_what_was_said(listener, season):
    """The listening test compares the audio with what the engine read (the respelling), so a respelled word is not
    reported as misheard: a pronunciation is the author's decision."""
    project, _, scripts = season
    respelt = project.model_copy(update={"pronunciations": {"lamp": Pronunciation(say="supply")}})
    script = _script(scripts["s01e01"], ("sc01_l001", "tobias", "The lamp boat comes tomorrow.", "neutral"))
    _, cached, store = _cache()
    vo = voice_over(script, respelt, cached, store, force_engine="flite", listening=True)
    take = vo.take("sc01_l001")
    assert take.spoken == CLEAR
    assert take.listening.wer < 0.25 and vo.listening.over == []


def test_the_listening_test_off_says_so(engines, season):
    project, _, scripts = season
    script = _script(scripts["s01e01"], ("sc01_l001", "tobias", CLEAR, "neutral"))
    _, cached, store = _cache()
    vo = voice_over(script, project, cached, store, force_engine="espeak-ng", listening=False)
    assert vo.take("sc01_l001").listening is None
    assert (vo.listening.recognizer, vo.listening.note) == ("none", "off for this run")
    assert listening_check(vo).passed is True


# ---- names without a pronunciation ---------------------------------------------------------------------------------


def test_an_unknown_name_is_reported_where_the_season_first_says_it(engines, season):
    project, outlines, scripts = season
    bare = project.model_copy(update={"pronunciations": {}})
    first = scripts["s01e01"]
    assert any("Inês" in el.text for sc in first.scenes for el in sc.elements if el.kind == "dialogue")
    # s01e02 says Inês again, and a new name
    second = _script(scripts["s01e02"], ("sc01_l001", "ines", "Inês, they call me. This chart is by Tregarthen.",
                                         "neutral"))

    def voiced(script, prj, earlier):
        _, cached, store = _cache()
        return voice_over(script, prj, cached, store, force_engine="espeak-ng", listening=False,
                          earlier_names=earlier)

    _, earlier = season_context(bare, outlines, "s01e01")
    assert earlier == []
    assert voiced(first, bare, earlier).unknown_names == ["Inês"]
    _, earlier = season_context(bare, outlines, "s01e02")
    assert earlier == ["Inês"]
    assert voiced(second, bare, earlier).unknown_names == ["Tregarthen"]  # Inês was reported in s01e01
    assert voiced(second, bare, []).unknown_names == ["Inês", "Tregarthen"]  # without the season's context
    # with the project's table, Inês is known
    assert voiced(first, project, season_context(project, outlines, "s01e01")[1]).unknown_names == []


# ---- what a take records; credits --------------------------------------------------------------------------------


def test_takes_record_engine_version_model_and_voice_and_credits_name_them(heard):
    project, _, vo, _ = heard
    assert vo.voiced and vo.engine == f"flite ({tts.engine_version('flite')}, {tts.model_of('flite')})"
    for take in vo.takes:
        assert take.engine == "flite" and take.source == "tts"
        assert take.engine_version == tts.engine_version("flite") and "naos-tts@2" in take.engine_version
        assert take.model == tts.model_of("flite")
        assert f"{take.engine}:{take.voice}" == vo.cast[take.speaker_id]
        assert take.rate is None and take.pitch is None  # espeak-ng's prosody only
    # the speed flite was asked for: the author's (tobias 0.92) times the emotion's (grieving 0.875)
    assert (vo.take("sc01_l001").speed, vo.take("sc01_l002").speed) == (0.92, 0.875)
    names = {c.id: c.name for c in project.characters}
    credits = credit_lines(vo, names)
    assert len(credits) == 2  # one per speaker, in order of first line
    for line, take in zip(credits, vo.takes, strict=True):
        assert line.startswith(f"{names[take.speaker_id]}: synthetic voice {take.voice} (flite, ")
        assert "BSD-style licence" in line


def test_credits_name_each_engines_licence(engines, season):
    project, _, scripts = season
    script = _script(scripts["s01e01"], ("sc01_l001", "tobias", CLEAR, "neutral"))
    _, cached, store = _cache()
    vo = voice_over(script, project, cached, store, force_engine="espeak-ng", listening=False)
    take = vo.takes[0]
    assert take.engine == "espeak-ng" and take.model == tts.model_of("espeak-ng")
    assert (take.rate, take.pitch, take.volume) == (165, 50, 100)  # espeak-ng records its prosody
    (line,) = credit_lines(vo, {"tobias": "Tobias Venn"})
    assert line.startswith(f"Tobias Venn: synthetic voice {take.voice} (espeak-ng, ") and "GPL-3.0" in line


# ---- naos voices ---------------------------------------------------------------------------------------------------


def _naos(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", "voices", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_naos_voices_writes_a_sample_per_voice(engines, tmp_path):
    proc = _naos("--engine", "flite", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    wavs = sorted(p.name for p in (tmp_path / "flite").iterdir())
    assert wavs == sorted(f"{v.id}.wav" for v in tts.voices("flite")) and len(wavs) == 4
    for name in wavs:
        assert _format((tmp_path / "flite" / name).read_bytes())[:3] == (48000, 1, 16)
    rows = proc.stdout.splitlines()
    assert [r.split()[:4] for r in rows] == [["flite", v.id, v.gender, v.accent] for v in tts.voices("flite")]
    assert "wrote 4 samples" in proc.stderr and "nothing was played" in proc.stderr


def test_naos_voices_refuses_an_unknown_engine(tmp_path):
    proc = _naos("--engine", "nosuch", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "unknown engine nosuch" in proc.stderr
    assert not any(tmp_path.iterdir())


def test_naos_voices_shows_the_projects_cast(engines, tmp_path):
    proc = _naos("--project", "examples/pilot/project.yaml", "--engine", "espeak-ng", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    cast_lines = [line for line in proc.stderr.splitlines() if line.startswith("naos: cast: ")]
    assert [line.split()[2] for line in cast_lines] == ["mara", "tobias", "ines", "aldo", NARRATOR]  # project order
    assert all("(cast automatically)" in line for line in cast_lines if line.split()[2] in ("ines", NARRATOR))
    assert len(list((tmp_path / "espeak-ng").glob("*.wav"))) == len(tts.voices("espeak-ng"))
