"""The episode mix after the timing lock: each take fitted to its locked slot, placed on the timeline the video
uses (shot offsets in rendered frames), a music bed ducked under it, loudness normalised with one global gain.

The mix is built scene by scene so that an edit re-mixes only what it touches: each scene is a segment of the
timeline (from its first shot's offset to the next scene's, sample-exact), mixed on its own (takes fitted and
placed, effects, the music bed from the loop position it has there, ducked with the last DUCK_PREROLL_S of the
timeline before it fed through the compressor first) and kept in a cache the caller supplies, under a hash of
everything that goes into it. The episode is the segments end to end, normalised as a whole in numpy (integrated
loudness and true peak after BS.1770-4, one linear gain, a lookahead true-peak limiter), then measured by ffmpeg's
ebur128 on the final bytes. A segment is the same bytes computed or cached, so the episode is too."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from engines.video.captions import shot_frames, shot_offsets
from schemas import Loudness, Placement, ShotList, VoiceOver

from . import mix
from .audiobook import Chapter

MIX_VERSION = "episode-mix@2"
SFX_GAIN = 0.5  # effects sit under the dialogue
MAX_STRETCH = 0.10  # a take may be time-compressed by this much to fit its slot
DUCK_PREROLL_S = 2.0  # the timeline before a segment fed through the ducker first (the release is 0.35 s)
TRUE_PEAK_TRIES = 3  # if ebur128 still reads a true peak over the ceiling, the limiter tries again lower
TRUE_PEAK_STEP_DB = 0.2  # by this much each time


class SegmentCache(Protocol):
    """Where mixed segments are kept between runs: WAV bytes under a key (a sha256 hex of the segment's inputs)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, wav: bytes) -> None: ...


@dataclass(frozen=True)
class _Clip:
    """A piece of audio on the episode's timeline: a take fitted to its slot, or a sound effect cut to its shot."""

    start: int  # sample
    length: int  # samples
    kind: str  # "line" | "sfx"
    source: str  # the take's sha256, or the effect file's
    ident: str  # line id, or sfx tag
    shot_id: str
    slot_s: float = 0.0  # lines: the locked slot

    def spec(self, origin: int) -> dict:
        """What the segment starting at `origin` needs to know of this clip (its key)."""
        return {"start": self.start - origin, "length": self.length, "kind": self.kind, "source": self.source,
                "slot_s": self.slot_s}


@dataclass(frozen=True)
class _Segment:
    scene_id: str
    start: int  # sample, on the episode's timeline
    end: int
    preroll: int  # samples of the timeline before `start` fed through the ducker


def episode_length_s(shot_list: ShotList, fps: int) -> float:
    return sum(shot_frames(s.duration_s, fps) for s in shot_list.shots) / fps


def _segments(shot_list: ShotList, fps: int) -> list[_Segment]:
    """One segment per run of consecutive shots of a scene, bounded by shot offsets in rendered frames."""
    bounds: list[tuple[str, int]] = []
    for shot, offset in zip(shot_list.shots, shot_offsets(shot_list, fps=fps), strict=True):
        if not bounds or bounds[-1][0] != shot.scene_id:
            bounds.append((shot.scene_id, mix.samples_for(offset)))
    total = mix.samples_for(episode_length_s(shot_list, fps))
    ends = [start for _, start in bounds[1:]] + [total]
    preroll = mix.samples_for(DUCK_PREROLL_S)
    return [_Segment(scene, start, end, min(preroll, start)) for (scene, start), end in zip(bounds, ends, strict=True)
            if end > start]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mix_episode(shot_list: ShotList, voice_over: VoiceOver, take: Callable[[str], bytes], *, fps: int,
                music: Path | None, target_lufs: float, true_peak_db: float, sfx: dict[str, Path] | None = None,
                cache: SegmentCache | None = None) -> tuple[bytes, list[Placement], Loudness | None]:
    """(mono 48 kHz WAV, where each line went, measured loudness or None for silence).

    `take(sha256)` returns a voice take's WAV. `cache` keeps mixed scene segments between runs (see the module
    docstring); without it every segment is mixed. Raises mix.SlotError naming the shot when a take does not fit its
    locked slot even stretched by 10 %."""
    track, placements, audible = episode_track(shot_list, voice_over, take, fps=fps, music=music, sfx=sfx,
                                               cache=cache)
    if not audible:
        return mix.wav_bytes(track), placements, None  # silence: there is no loudness to meet
    return _normalise(track, target_lufs, true_peak_db, placements)


def episode_track(shot_list: ShotList, voice_over: VoiceOver, take: Callable[[str], bytes], *, fps: int,
                  music: Path | None, sfx: dict[str, Path] | None = None, cache: SegmentCache | None = None
                  ) -> tuple[np.ndarray, list[Placement], bool]:
    """The mix before loudness, scene segment by scene segment (see mix_episode): (int16 samples of the whole
    episode, where each line went, whether anything sounds at all: a line, an effect or music)."""
    duration = episode_length_s(shot_list, fps)
    total = mix.samples_for(duration)
    clips: list[_Clip] = []
    placements: list[Placement] = []
    effects: dict[str, tuple[str, np.ndarray]] = {}  # sfx tag -> (file sha256, samples)
    for shot, offset in zip(shot_list.shots, shot_offsets(shot_list, fps=fps), strict=True):
        for line in shot.lines:
            voiced = voice_over.take(line.line_id)
            if voiced is None or voiced.sha256 is None:
                continue
            slot = round(line.end_s - line.start_s, 3)
            if slot <= 0:
                raise ValueError(f"shot {shot.id}: line {line.line_id} has an empty slot ({slot} s)")
            start = round(offset + line.start_s, 3)
            clips.append(_Clip(mix.samples_for(start), mix.samples_for(slot), "line", voiced.sha256, line.line_id,
                               shot.id, slot))
            placements.append(Placement(line_id=line.line_id, shot_id=shot.id, start_s=start,
                                        end_s=round(start + slot, 3),
                                        tempo=round(voiced.duration_s / slot, 4) if voiced.duration_s > slot else 1.0))
        # sound effects the library has (sfx tag -> file), each from the start of a shot that asks for it, cut to it
        for tag in shot.audio_intent.sfx_tags:
            if sfx and tag in sfx:
                if tag not in effects:
                    effects[tag] = (_digest(Path(sfx[tag]).read_bytes()), mix.read_wav(sfx[tag]))
                n = min(len(effects[tag][1]), mix.samples_for(shot_frames(shot.duration_s, fps) / fps))
                clips.append(_Clip(mix.samples_for(round(offset, 3)), n, "sfx", effects[tag][0], tag, shot.id))
    for clip in clips:
        if clip.start < 0 or clip.start + clip.length > total:
            raise ValueError(f"a clip of {clip.length / mix.RATE:.3f} s at {clip.start / mix.RATE:.3f} s does not fit "
                             f"a {duration:.3f} s track ({clip.shot_id}/{clip.ident})")

    bed: np.ndarray | None = None  # the music bed's loop, decoded once
    if music is not None:
        if not Path(music).is_file():
            raise mix.RenderError(f"duck music under dialogue: {music}", "music file does not exist")
        music_sha = _digest(Path(music).read_bytes())
        bed = mix.read_wav(music)
    fitted: dict[tuple[str, int], np.ndarray] = {}

    def audio_of(clip: _Clip) -> np.ndarray:
        if (clip.source, clip.length) not in fitted:
            if clip.kind == "line":
                wav = mix.fit_to_slot(take(clip.source), clip.slot_s, shot_id=clip.shot_id, line_id=clip.ident,
                                      max_stretch=MAX_STRETCH)
            else:  # as int16 after the effect gain, rounded as wav_bytes rounds
                wav = mix.wav_bytes(effects[clip.ident][1][: clip.length].astype(float) / 32768.0 * SFX_GAIN)
            fitted[clip.source, clip.length] = mix.read_wav(wav)
        return fitted[clip.source, clip.length]

    def render(seg: _Segment, inside: list[_Clip]) -> np.ndarray:
        origin = seg.start - seg.preroll
        track = np.zeros(seg.end - origin, dtype=np.int32)
        for clip in inside:  # overlaps add, clipped to 16 bits (as one track would)
            lo, hi = max(clip.start, origin), min(clip.start + clip.length, seg.end)
            track[lo - origin : hi - origin] += audio_of(clip)[lo - clip.start : hi - clip.start]
        dialogue = np.clip(track, -32768, 32767).astype(np.int16)
        if bed is None:
            return dialogue[seg.preroll :]
        return mix.duck_samples(dialogue, bed, music_offset=origin % max(1, len(bed)), skip=seg.preroll)

    pieces: list[np.ndarray] = []
    for seg in _segments(shot_list, fps):
        origin = seg.start - seg.preroll
        inside = [c for c in clips if c.start < seg.end and c.start + c.length > origin]
        key = _digest(json.dumps({
            "stage": "episode_audio/segment", "version": MIX_VERSION, "rate": mix.RATE, "length": seg.end - seg.start,
            "preroll": seg.preroll, "clips": [c.spec(origin) for c in inside], "sfx_gain": SFX_GAIN,
            "max_stretch": MAX_STRETCH,
            "music": None if bed is None else {
                "sha256": music_sha, "loop_offset": origin % max(1, len(bed)), "bed_db": mix.MUSIC_BED_DB,
                "duck": mix.DUCK, "tail_s": mix.DUCK_TAIL_S},
        }, sort_keys=True, separators=(",", ":")).encode())  # fmt: skip
        wav = cache.get(key) if cache is not None else None
        if wav is None:
            wav = mix.wav_bytes(render(seg, inside))
            if cache is not None:
                cache.put(key, wav)
        piece = mix.read_wav(wav)
        if len(piece) != seg.end - seg.start:
            raise mix.RenderError(f"mix scene {seg.scene_id}", f"{len(piece)} samples, expected {seg.end - seg.start}")
        pieces.append(piece)
    track = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
    return track, placements, bool(clips) or music is not None


def _normalise(track: np.ndarray, target_lufs: float, true_peak_db: float, placements: list[Placement]
               ) -> tuple[bytes, list[Placement], Loudness | None]:
    """The whole track at the target loudness, its loudness measured by ebur128 on the final bytes. Should the
    measured true peak still be over the ceiling (the meters' interpolators differ), the limiter goes again lower."""
    for attempt in range(TRUE_PEAK_TRIES):
        ceiling = true_peak_db - attempt * TRUE_PEAK_STEP_DB
        out, _ = mix.normalise(track, target_lufs=target_lufs, true_peak_db=ceiling)
        wav = mix.wav_bytes(out)
        measured = mix.measure_loudness(wav)
        if measured["true_peak_dbtp"] <= true_peak_db:
            break
    if measured["integrated_lufs"] == float("-inf"):
        return wav, placements, None  # nothing above the absolute gate: no loudness to meet
    return wav, placements, Loudness(integrated_lufs=round(measured["integrated_lufs"], 2),
                                     true_peak_db=round(measured["true_peak_dbtp"], 2),
                                     lra=round(measured["lra_lu"], 2))


def scene_chapters(shot_list: ShotList, fps: int) -> list[Chapter]:
    """One audiobook chapter per scene, on the video's timeline, titled by its place and time."""
    starts: dict[str, tuple[float, str]] = {}
    for shot, offset in zip(shot_list.shots, shot_offsets(shot_list, fps=fps), strict=True):
        starts.setdefault(shot.scene_id, (offset, shot.environment_notes or shot.scene_id))
    bounds = [*(start for start, _ in starts.values()), episode_length_s(shot_list, fps)]
    return [Chapter(title, round(bounds[i], 3), round(bounds[i + 1], 3))
            for i, (_, title) in enumerate(starts.values())]
