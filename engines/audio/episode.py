"""The episode mix after the timing lock: each take fitted to its locked slot, placed on the timeline the video
uses (shot offsets in rendered frames), a music bed ducked under it, loudness normalised in two passes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engines.video.captions import shot_frames, shot_offsets
from schemas import Loudness, Placement, ShotList, VoiceOver

from . import mix
from .audiobook import Chapter

MIX_VERSION = "episode-mix@1"
SFX_GAIN = 0.5  # effects sit under the dialogue


def episode_length_s(shot_list: ShotList, fps: int) -> float:
    return sum(shot_frames(s.duration_s, fps) for s in shot_list.shots) / fps


def mix_episode(shot_list: ShotList, voice_over: VoiceOver, take: Callable[[str], bytes], *, fps: int,
                music: Path | None, target_lufs: float, true_peak_db: float, sfx: dict[str, Path] | None = None
                ) -> tuple[bytes, list[Placement], Loudness | None]:
    """(mono 48 kHz WAV, where each line went, measured loudness or None for silence).

    `take(sha256)` returns a voice take's WAV. Raises mix.SlotError naming the shot when a take does not fit its
    locked slot even stretched by 10 %."""
    duration = episode_length_s(shot_list, fps)
    placed: list[tuple[float, bytes]] = []
    placements: list[Placement] = []
    for shot, offset in zip(shot_list.shots, shot_offsets(shot_list, fps=fps), strict=True):
        for line in shot.lines:
            voiced = voice_over.take(line.line_id)
            if voiced is None or voiced.sha256 is None:
                continue
            slot = round(line.end_s - line.start_s, 3)
            fitted = mix.fit_to_slot(take(voiced.sha256), slot, shot_id=shot.id, line_id=line.line_id)
            start = round(offset + line.start_s, 3)
            placed.append((start, fitted))
            placements.append(Placement(line_id=line.line_id, shot_id=shot.id, start_s=start,
                                        end_s=round(start + slot, 3),
                                        tempo=round(voiced.duration_s / slot, 4) if voiced.duration_s > slot else 1.0))
    # sound effects the library has (sfx tag -> file), each from the start of a shot that asks for it, cut to the shot
    effects: list[tuple[float, bytes]] = []
    for shot, offset in zip(shot_list.shots, shot_offsets(shot_list, fps=fps), strict=True):
        for tag in shot.audio_intent.sfx_tags:
            if sfx and tag in sfx:
                n = min(len(clip := mix.read_wav(sfx[tag])), mix.samples_for(shot_frames(shot.duration_s, fps) / fps))
                effects.append((round(offset, 3), mix.wav_bytes(clip[:n].astype(float) / 32768.0 * SFX_GAIN)))
    track = mix.assemble_track(placed + effects, duration)
    if music is not None:
        track = mix.duck_music(track, music, duration)
    if not placed and not effects and music is None:
        return track, placements, None  # silence: there is no loudness to meet
    track = mix.loudnorm_two_pass(track, target_lufs=target_lufs, true_peak_db=true_peak_db)
    measured = mix.measure_loudness(track)
    return track, placements, Loudness(integrated_lufs=round(measured["integrated_lufs"], 2),
                                       true_peak_db=round(measured["true_peak_dbtp"], 2), lra=round(measured["lra_lu"], 2))


def scene_chapters(shot_list: ShotList, fps: int) -> list[Chapter]:
    """One audiobook chapter per scene, on the video's timeline, titled by its place and time."""
    starts: dict[str, tuple[float, str]] = {}
    for shot, offset in zip(shot_list.shots, shot_offsets(shot_list, fps=fps), strict=True):
        starts.setdefault(shot.scene_id, (offset, shot.environment_notes or shot.scene_id))
    bounds = [*(start for start, _ in starts.values()), episode_length_s(shot_list, fps)]
    return [Chapter(title, round(bounds[i], 3), round(bounds[i + 1], 3))
            for i, (_, title) in enumerate(starts.values())]
