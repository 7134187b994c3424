"""The audio mix and audiobook engines against the real bundled ffmpeg: slot fitting, track assembly, ducking (whole
or from a pre-roll), loudness (the numpy meter, limiter and normaliser the episode mix uses),
m4a/m4b chapters and tags, and byte-identical reruns."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from engines.audio import mix
from engines.audio.audiobook import Chapter, write_m4a, write_m4b
from engines.audio.mix import RATE, SlotError

ESPEAK = shutil.which("espeak-ng")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tone(seconds: float, freq: float = 440.0, amp: float = 0.3) -> bytes:
    t = np.arange(mix.samples_for(seconds)) / RATE
    return mix.wav_bytes(amp * np.sin(2 * np.pi * freq * t))


def rms(samples: np.ndarray, start_s: float, end_s: float) -> float:
    window = samples[mix.samples_for(start_s) : mix.samples_for(end_s)].astype(np.float64)
    return float(np.sqrt(np.mean(window**2)))


def music_like(seconds: float) -> np.ndarray:
    """A slowly swelling chord with a little seeded noise: steady, tonal, low crest factor."""
    t = np.arange(mix.samples_for(seconds)) / RATE
    chord = sum(a * np.sin(2 * np.pi * f * t) for f, a in ((220, 1.0), (277.2, 0.6), (329.6, 0.5), (110, 0.7)))
    noise = np.random.default_rng(7).normal(0.0, 0.02, len(t))
    return 0.12 * chord * (0.7 + 0.3 * np.sin(2 * np.pi * 0.25 * t)) + noise


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> bytes:
    """About 10 s of speech from espeak-ng (byte-stable per RENDERING-NOTES); without it, syllable-like noise bursts."""
    if ESPEAK:
        out = tmp_path_factory.mktemp("speech") / "speech.wav"
        text = "The lighthouse keeper counted the ships every night. None of them came home, and still he counted."
        subprocess.run([ESPEAK, "-v", "en", "-s", "150", "-w", str(out), text * 2], check=True, capture_output=True)
        return mix.wav_bytes(mix.read_wav(out))
    rng = np.random.default_rng(3)
    t = np.arange(10 * RATE) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 2
    return mix.wav_bytes(0.5 * envelope * rng.normal(0, 0.3, len(t)))


# ---- fit_to_slot ------------------------------------------------------------------------------------------------


def test_fit_within_slot_pads_sample_exactly():
    line = tone(4.2)
    out = mix.fit_to_slot(line, 5.0, shot_id="sc01_sh01", line_id="sc01_l001")
    samples = mix.read_wav(out)
    assert len(samples) == 5 * RATE
    assert np.array_equal(samples[: mix.samples_for(4.2)], mix.read_wav(line))
    assert not samples[mix.samples_for(4.2) :].any()
    assert out == mix.fit_to_slot(line, 5.0, shot_id="sc01_sh01", line_id="sc01_l001")


def test_fit_stretches_eight_percent_to_the_exact_slot():
    line = tone(5.4)  # 8 % over a 5 s slot
    out = mix.fit_to_slot(line, 5.0, shot_id="sc01_sh02", line_id="sc01_l002")
    samples = mix.read_wav(out)
    assert len(samples) == 5 * RATE
    assert rms(samples, 0.1, 4.9) > 0.8 * rms(mix.read_wav(line), 0.1, 4.9)  # all of it still sounds
    # atempo keeps the pitch: about 440 zero-crossing pairs per second in the middle
    mid = samples[RATE : 4 * RATE].astype(np.int32)
    crossings = np.count_nonzero(np.diff(np.signbit(mid)))
    assert crossings / 2 / 3.0 == pytest.approx(440, rel=0.02)
    assert sha(out) == sha(mix.fit_to_slot(line, 5.0, shot_id="sc01_sh02", line_id="sc01_l002"))


def test_fit_beyond_the_limit_raises_a_slot_error_naming_shot_and_line():
    with pytest.raises(SlotError) as err:
        mix.fit_to_slot(tone(5.75), 5.0, shot_id="sc02_sh03", line_id="sc02_l001")  # 15 % over
    message = str(err.value)
    assert "sc02_sh03" in message and "sc02_l001" in message
    assert "5.75 s" in message and "5.00 s" in message and "15 %" in message and "10 %" in message
    assert err.value.stretch == pytest.approx(0.15)
    assert isinstance(err.value, ValueError)


# ---- assemble_track ---------------------------------------------------------------------------------------------


def test_assembled_track_has_each_clip_where_placed():
    placements = [(1.0, tone(2.0, 300)), (4.5, tone(1.5, 500)), (8.25, tone(1.0, 700))]
    out = mix.assemble_track(placements, 10.0)
    samples = mix.read_wav(out)
    assert len(samples) == 10 * RATE
    loud = rms(mix.read_wav(tone(1.0)), 0, 1)
    for start, end in ((1.0, 3.0), (4.5, 6.0), (8.25, 9.25)):
        assert rms(samples, start + 0.01, end - 0.01) == pytest.approx(loud, rel=0.01)
    for start, end in ((0.0, 1.0), (3.0, 4.5), (6.0, 8.25), (9.25, 10.0)):
        assert rms(samples, start, end) == 0.0
    # sample-exact: the second clip starts on sample 4.5 * RATE
    assert np.array_equal(samples[mix.samples_for(4.5) : mix.samples_for(6.0)], mix.read_wav(placements[1][1]))
    assert out == mix.assemble_track(placements, 10.0)
    with pytest.raises(ValueError):
        mix.assemble_track([(9.5, tone(1.0))], 10.0)


# ---- duck_music -------------------------------------------------------------------------------------------------


def test_music_ducks_under_dialogue(tmp_path):
    music = tmp_path / "bed.wav"
    music.write_bytes(mix.wav_bytes(music_like(7.0)))  # shorter than the track: it loops
    dialogue = mix.assemble_track([(4.0, tone(3.0, 600, 0.25)), (12.0, tone(3.0, 600, 0.25))], 18.0)
    silent = mix.wav_bytes(np.zeros(18 * RATE, dtype=np.int16))
    mixed = mix.duck_music(dialogue, music, 18.0)
    alone = mix.read_wav(mix.duck_music(silent, music, 18.0))  # the bed with nothing to duck it
    assert len(alone) == 18 * RATE and len(mix.read_wav(mixed)) == 18 * RATE
    bed = mix.read_wav(mixed).astype(np.int32) - mix.read_wav(dialogue)  # amix normalize=0 is a plain sum
    for start, end in ((1.0, 3.5), (8.0, 11.5), (16.0, 18.0)):  # music only: untouched
        assert rms(bed, start, end) == pytest.approx(rms(alone, start, end), rel=0.05)
    for start, end in ((4.5, 7.0), (12.5, 15.0)):  # under speech: at least 10 dB down
        assert rms(bed, start, end) < rms(alone, start, end) / 10 ** (10 / 20)
    assert rms(alone, 1.0, 3.5) < rms(mix.read_wav(music), 1.0, 3.5) / 2  # the bed itself is lowered
    assert sha(mixed) == sha(mix.duck_music(dialogue, music, 18.0))


# ---- loudness ---------------------------------------------------------------------------------------------------


def test_measure_loudness_reads_a_file_and_bytes_alike(tmp_path):
    wav = tone(3.0, 1000, 0.5)
    (tmp_path / "t.wav").write_bytes(wav)
    figures = mix.measure_loudness(wav)
    assert figures == mix.measure_loudness(tmp_path / "t.wav")
    assert set(figures) == {"integrated_lufs", "true_peak_dbtp", "lra_lu"}
    assert figures["true_peak_dbtp"] == pytest.approx(20 * np.log10(0.5), abs=0.2)


def test_ducking_a_segment_with_a_preroll_continues_the_one_pass_mix():
    """duck_samples from the middle of a timeline: the bed taken at its loop position, the compressor fed a pre-roll
    (here with speech in it, still ducking), gives the samples one pass over the whole timeline gives."""
    music = mix.read_wav(mix.wav_bytes(music_like(7.0)))
    dialogue = mix.read_wav(mix.assemble_track([(2.0, tone(3.0, 600, 0.25)), (9.0, tone(2.5, 500, 0.25))], 16.0))
    whole = mix.duck_samples(dialogue, music)
    assert len(whole) == 16 * RATE
    split, preroll = mix.samples_for(10.5), mix.samples_for(2.0)  # mid-line: the hardest place for a seam
    later = mix.duck_samples(dialogue[split - preroll :], music, music_offset=(split - preroll) % len(music),
                             skip=preroll)
    first = mix.duck_samples(dialogue[:split], music)
    joined = np.concatenate([first, later]).astype(np.int32)
    assert len(joined) == len(whole)
    assert np.abs(joined - whole).max() <= 1
    cold = mix.duck_samples(dialogue[split:], music, music_offset=split % len(music))  # no pre-roll: a seam
    assert np.abs(cold.astype(np.int32) - whole[split:]).max() > 100


# ---- loudness in numpy ------------------------------------------------------------------------------------------


def test_integrated_loudness_of_a_reference_sine():
    """BS.1770-4: a 997 Hz sine at -20 dBFS reads -23.0 LUFS (0 dBFS reads -3.01)."""
    t = np.arange(10 * RATE) / RATE
    samples = np.round(0.1 * 32768 * np.sin(2 * np.pi * 997 * t)).astype(np.int16)
    assert mix.integrated_lufs(samples) == pytest.approx(-23.01, abs=0.02)
    assert mix.true_peak_dbtp(samples) == pytest.approx(-20.0, abs=0.05)
    assert mix.integrated_lufs(np.zeros(5 * RATE, dtype=np.int16)) == float("-inf")


@pytest.mark.parametrize("kind", ["speech", "music"])
def test_numpy_meter_agrees_with_ebur128(kind, speech):
    wav = speech if kind == "speech" else mix.wav_bytes(music_like(12.0))
    ours = mix.read_wav(wav)
    theirs = mix.measure_loudness(wav)  # 0.1 resolution
    assert mix.integrated_lufs(ours) == pytest.approx(theirs["integrated_lufs"], abs=0.1)
    assert mix.true_peak_dbtp(ours) == pytest.approx(theirs["true_peak_dbtp"], abs=0.15)


def test_true_peak_sees_between_the_samples():
    """A sine at a quarter of the rate, sampled 45 degrees off its crests: every sample is at 0.707 of the peak."""
    n = np.arange(RATE)
    samples = np.round(0.5 * 32768 * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.int16)
    assert np.abs(samples).max() / 32768 == pytest.approx(0.5 / np.sqrt(2), abs=1e-3)
    assert mix.true_peak_dbtp(samples) == pytest.approx(20 * np.log10(0.5), abs=0.15)  # not the -9 dB of the samples


def test_limiter_gain_never_exceeds_what_each_block_allows():
    rng = np.random.default_rng(5)
    required = np.ones(20_000)
    peaks = rng.integers(0, len(required), 300)
    required[peaks] = rng.uniform(0.2, 0.95, len(peaks))
    nodes = mix.limiter_gain(required, ramp=30, hold=20)
    assert len(nodes) == len(required) + 1 and nodes.max() <= 1.0
    assert np.all(nodes[:-1] <= required + 1e-12) and np.all(nodes[1:] <= required + 1e-12)  # both ends of a block
    assert np.abs(np.diff(nodes)).max() < 0.1  # smooth: no step in the gain
    assert np.array_equal(mix.limiter_gain(np.ones(100), ramp=30, hold=20), np.ones(101))


@pytest.mark.parametrize("kind", ["speech", "music"])
def test_normalise_hits_the_target_with_one_gain_and_the_limiter(kind, speech):
    samples = mix.read_wav(speech if kind == "speech" else mix.wav_bytes(music_like(12.0)))
    out, report = mix.normalise(samples, target_lufs=-16.0, true_peak_db=-1.0)
    assert len(out) == len(samples) and out.dtype == np.int16
    assert report["output_lufs"] == pytest.approx(-16.0, abs=mix.LOUDNESS_TOLERANCE_LU)
    measured = mix.measure_loudness(mix.wav_bytes(out))  # independent: ebur128
    assert measured["integrated_lufs"] == pytest.approx(-16.0, abs=0.15), (measured, report)
    assert measured["true_peak_dbtp"] <= -1.0, (measured, report)
    assert mix.true_peak_dbtp(out) <= -1.0 - mix.LIMIT_MARGIN_DB + 0.05
    again, _ = mix.normalise(samples, target_lufs=-16.0, true_peak_db=-1.0)
    assert sha(mix.wav_bytes(again)) == sha(mix.wav_bytes(out))
    if kind == "music":  # low crest factor: the gain alone does it, nothing is limited
        assert report["limited"] == 0.0
        assert report["gain_db"] == pytest.approx(-16.0 - report["input_lufs"], abs=mix.GAIN_STEP_DB)


def test_normalise_returns_silence_as_it_is():
    silence = np.zeros(3 * RATE, dtype=np.int16)
    out, report = mix.normalise(silence, target_lufs=-16.0, true_peak_db=-1.0)
    assert np.array_equal(out, silence) and report["input_lufs"] == float("-inf")


# ---- audiobook --------------------------------------------------------------------------------------------------


def chapters_of(path: Path) -> list[tuple[str, float, float]]:
    with av.open(str(path)) as container:
        return [
            (ch["metadata"].get("title"), float(ch["start"] * ch["time_base"]), float(ch["end"] * ch["time_base"]))
            for ch in container.chapters()
        ]


def tags_of(path: Path) -> dict[str, str]:
    with av.open(str(path)) as container:
        tags = dict(container.metadata)
        for stream in container.streams:
            tags.update({f"stream:{k}": v for k, v in stream.metadata.items()})
        return tags


@pytest.fixture(scope="module")
def episode_wavs() -> list[bytes]:
    return [mix.wav_bytes(music_like(6.0) * 0.8), tone(4.0, 330)]


def test_m4a_has_chapters_and_tags_and_is_byte_stable(tmp_path, episode_wavs):
    chapters = [Chapter("Cold open", 0.0, 1.5), Chapter("The storm; part = 2 #", 1.5, 4.0), Chapter("Coda", 4.0, 6.0)]
    kwargs = dict(chapters=chapters, title="The Keeper", album="Season 1", artist="NAOS", track=3)
    first = write_m4a(episode_wavs[0], tmp_path / "a" / "ep.m4a", **kwargs)
    second = write_m4a(episode_wavs[0], tmp_path / "b" / "ep.m4a", **kwargs)
    assert first.read_bytes() == second.read_bytes()
    assert [p.name for p in first.parent.iterdir()] == ["ep.m4a"]  # no temporary left behind
    assert chapters_of(first) == [(c.title, c.start_s, c.end_s) for c in chapters]
    tags = tags_of(first)
    assert (tags["title"], tags["album"], tags["artist"], tags["track"]) == ("The Keeper", "Season 1", "NAOS", "3")
    assert not any("creation_time" in k or "encoder" in k for k in tags), tags
    assert b"Lavf" not in first.read_bytes() and b"Lavc" not in first.read_bytes()
    with av.open(str(first)) as container:
        audio = container.streams.audio[0]
        assert (audio.codec_context.name, audio.codec_context.sample_rate) == ("aac", RATE)
        assert container.duration / 1e6 == pytest.approx(6.0, abs=0.03)


def test_m4b_has_one_chapter_per_episode(tmp_path, episode_wavs):
    ep1 = write_m4a(episode_wavs[0], tmp_path / "ep1.m4a", chapters=[], title="One", album="S1", artist="NAOS")
    ep2 = tmp_path / "ep2.wav"
    ep2.write_bytes(episode_wavs[1])  # a WAV works as well as an m4a
    episodes = [("Episode 1: One", ep1), ("Episode 2: Two", ep2)]
    first = write_m4b(episodes, tmp_path / "a" / "season.m4b", title="Season 1", artist="NAOS")
    second = write_m4b(episodes, tmp_path / "b" / "season.m4b", title="Season 1", artist="NAOS")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes()[4:12] == b"ftypM4B "
    got = chapters_of(first)
    assert [title for title, _, _ in got] == ["Episode 1: One", "Episode 2: Two"]
    assert got[0][1] == 0.0 and got[0][2] == pytest.approx(6.0, abs=0.03)
    assert got[1][1] == got[0][2] and got[1][2] == pytest.approx(10.0, abs=0.03)
    tags = tags_of(first)
    assert (tags["title"], tags["album"], tags["artist"]) == ("Season 1", "Season 1", "NAOS")
    assert not any("creation_time" in k for k in tags)
