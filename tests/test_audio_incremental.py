"""The episode mix scene by scene: segments cached under a hash of their inputs, the same bytes cold or warm, an edit
re-mixing only the scene it touches, seams the ear cannot find (the same samples as one pass over the episode), and
the loudness target met on the final bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from engines.audio import episode, mix
from engines.video.captions import shot_frames, shot_offsets
from schemas import ShotList, VoiceOver, VoiceTake

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "examples" / "pilot" / "library"
MUSIC = LIBRARY / "music" / "sea_theme.wav"
SFX = {"door": LIBRARY / "sfx" / "door.wav"}
FPS = 24


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def speechlike(seconds: float, seed: int) -> bytes:
    """Syllable-like bursts of noise with a pitch buzz: peaky, like espeak-ng's takes."""
    rng = np.random.default_rng(seed)
    t = np.arange(mix.samples_for(seconds)) / mix.RATE
    syllables = np.clip(np.sin(2 * np.pi * (3.5 + seed % 3) * t), 0, None) ** 2
    buzz = np.sign(np.sin(2 * np.pi * (110 + 20 * (seed % 5)) * t)) * 0.3 + rng.normal(0, 0.15, len(t))
    return mix.wav_bytes(0.6 * syllables * buzz)


class Takes:
    """Voice takes by sha256, and the VoiceOver naming them."""

    def __init__(self, shot_list: ShotList):
        self.wavs: dict[str, bytes] = {}
        self.lines = {ln.line_id: ln for s in shot_list.shots for ln in s.lines}
        self.sha = {line_id: self.add(self.speak(line_id, 0)) for line_id in self.lines}

    def speak(self, line_id: str, version: int) -> bytes:
        line = self.lines[line_id]
        return speechlike(round(line.end_s - line.start_s, 3), int(sha(line_id.encode())[:6], 16) + version)

    def add(self, wav: bytes) -> str:
        self.wavs[sha(wav)] = wav
        return sha(wav)

    def voice_over(self, shot_list: ShotList) -> VoiceOver:
        takes = [VoiceTake(line_id=ln.line_id, speaker_id=ln.speaker_id, text=ln.text, emotion=ln.emotion,
                           voice="en", rate=150, pitch=50, volume=100, sha256=self.sha[ln.line_id],
                           duration_s=round(ln.end_s - ln.start_s, 3), source="tts")
                 for s in shot_list.shots for ln in s.lines]
        return VoiceOver.new(episode_id=shot_list.episode_id, engine="test", voiced=True,
                             takes=takes)


class Cache:
    """A SegmentCache in memory that counts what it was asked for."""

    def __init__(self):
        self.store: dict[str, bytes] = {}
        self.hits = self.misses = 0

    def get(self, key: str) -> bytes | None:
        wav = self.store.get(key)
        self.hits += wav is not None
        self.misses += wav is None
        return wav

    def put(self, key: str, wav: bytes) -> None:
        self.store[key] = wav

    def reset(self) -> Cache:
        self.hits = self.misses = 0
        return self


@pytest.fixture(scope="module")
def shots(pilot) -> ShotList:
    """s01e01: three scenes, five lines, a door knock in the third scene."""
    return pilot["s01e01"].shot_list


def mix_it(shot_list: ShotList, takes: Takes, cache: Cache | None = None, music: Path | None = MUSIC):
    return episode.mix_episode(shot_list, takes.voice_over(shot_list), takes.wavs.__getitem__, fps=FPS, music=music,
                               sfx=SFX, target_lufs=-16.0, true_peak_db=-1.0, cache=cache)


def scene_end(shot_list: ShotList, scene_id: str) -> float:
    offsets = shot_offsets(shot_list, fps=FPS)
    last = max(i for i, s in enumerate(shot_list.shots) if s.scene_id == scene_id)
    return offsets[last] + shot_frames(shot_list.shots[last].duration_s, FPS) / FPS


def test_cold_and_warm_give_the_same_bytes(shots):
    takes, cache = Takes(shots), Cache()
    cold, placements, loudness = mix_it(shots, takes, cache)
    assert (cache.hits, cache.misses) == (0, 3) and len(cache.store) == 3  # one segment per scene
    warm, placements2, loudness2 = mix_it(shots, takes, cache.reset())
    assert (cache.hits, cache.misses) == (3, 0)
    assert sha(warm) == sha(cold) and placements2 == placements and loudness2 == loudness
    assert sha(mix_it(shots, takes)[0]) == sha(cold)  # and without any cache at all
    assert len(mix.read_wav(cold)) == mix.samples_for(episode.episode_length_s(shots, FPS))


def test_editing_a_line_remixes_only_its_scene(shots):
    takes, cache = Takes(shots), Cache()
    before, _, _ = mix_it(shots, takes, cache)
    takes.sha["sc02_l001"] = takes.add(takes.speak("sc02_l001", 1))  # re-recorded, same slot
    after, _, loudness = mix_it(shots, takes, cache.reset())
    assert (cache.hits, cache.misses) == (2, 1)
    assert sha(after) != sha(before)
    assert sha(after) == sha(mix_it(shots, takes)[0])  # the same as mixing it all afresh
    assert abs(loudness.integrated_lufs + 16) <= 0.2 and loudness.true_peak_db <= -1.0


def test_the_last_line_of_a_scene_reaches_into_the_next_scenes_preroll(shots):
    """The ducker hears DUCK_PREROLL_S of the timeline before a scene, so a line ending within that of the scene's
    end is part of two segments."""
    takes, cache = Takes(shots), Cache()
    mix_it(shots, takes, cache)
    last = next(ln for s in shots.shots if s.scene_id == "sc01" for ln in s.lines if ln.line_id == "sc01_l002")
    shot = next(s for s in shots.shots if any(ln.line_id == last.line_id for ln in s.lines))
    ends = shot_offsets(shots, fps=FPS)[shots.shots.index(shot)] + last.end_s
    assert scene_end(shots, "sc01") - ends < episode.DUCK_PREROLL_S
    takes.sha[last.line_id] = takes.add(takes.speak(last.line_id, 1))
    mix_it(shots, takes, cache.reset())
    assert (cache.hits, cache.misses) == (1, 2)


def test_a_longer_shot_moves_the_scenes_after_it_without_remixing_them_unless_the_bed_moves(shots):
    takes = Takes(shots)
    longer = shots.model_copy(deep=True)
    longer.shots[0].duration_s += 1.0  # sc01 grows by a second: sc02 and sc03 start later
    dry = Cache()
    mix_it(shots, takes, dry, music=None)
    mix_it(longer, takes, dry.reset(), music=None)
    assert (dry.hits, dry.misses) == (2, 1)  # without music a segment does not depend on where it starts
    wet = Cache()
    mix_it(shots, takes, wet)
    mix_it(longer, takes, wet.reset())
    assert (wet.hits, wet.misses) == (0, 3)  # the music bed under sc02 and sc03 is a second further on


def test_segments_join_into_the_one_pass_mix(shots):
    """The seams are inaudible because there are none: the segments end to end are the samples one duck_music pass
    over the whole episode gives (the compressor's state carried over by the pre-roll)."""
    takes = Takes(shots)
    vo = takes.voice_over(shots)
    track, _, audible = episode.episode_track(shots, vo, takes.wavs.__getitem__, fps=FPS, music=MUSIC, sfx=SFX)
    assert audible
    duration = episode.episode_length_s(shots, FPS)
    placed = []
    for shot, offset in zip(shots.shots, shot_offsets(shots, fps=FPS), strict=True):
        for line in shot.lines:
            placed.append((round(offset + line.start_s, 3),
                           mix.fit_to_slot(takes.wavs[vo.take(line.line_id).sha256], round(line.end_s - line.start_s, 3),
                                           shot_id=shot.id, line_id=line.line_id)))
        for tag in shot.audio_intent.sfx_tags:
            clip = mix.read_wav(SFX[tag])
            n = min(len(clip), mix.samples_for(shot_frames(shot.duration_s, FPS) / FPS))
            placed.append((round(offset, 3), mix.wav_bytes(clip[:n].astype(float) / 32768.0 * episode.SFX_GAIN)))
    one_pass = mix.read_wav(mix.duck_music(mix.assemble_track(placed, duration), MUSIC, duration))
    assert len(track) == len(one_pass)
    assert np.abs(track.astype(np.int32) - one_pass).max() <= 1


def test_the_mix_meets_the_target_measured_on_its_own_bytes(shots):
    wav, placements, loudness = mix_it(shots, Takes(shots))
    measured = mix.measure_loudness(wav)  # ebur128: what Loudness reports is a measurement of these bytes
    assert (loudness.integrated_lufs, loudness.true_peak_db, loudness.lra) == (
        measured["integrated_lufs"], measured["true_peak_dbtp"], measured["lra_lu"])
    assert abs(loudness.integrated_lufs + 16) <= 0.2 and loudness.true_peak_db <= -1.0
    assert mix.true_peak_dbtp(mix.read_wav(wav)) <= -1.0 + 0.05
    assert [p.line_id for p in placements] == [ln.line_id for s in shots.shots for ln in s.lines]


def test_silence_has_no_loudness(shots):
    takes = Takes(shots)
    vo = VoiceOver.new(episode_id=shots.episode_id, engine="none", voiced=False, takes=[])
    wav, placements, loudness = episode.mix_episode(shots, vo, takes.wavs.__getitem__, fps=FPS, music=None,
                                                    target_lufs=-16.0, true_peak_db=-1.0, cache=Cache())
    assert loudness is None and placements == [] and not mix.read_wav(wav).any()
