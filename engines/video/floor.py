"""The speed floor: the whole timeline in ONE ffmpeg run, for the benchmark to compare the per-shot path against.

Same pixels as render_shot + concat_clips (the same per-shot filter chains, joined by the concat filter; captions
burned once from an episode-wide ASS with the same style), same encoder settings, a silent AAC track of the exact
video duration. Only the encode is one stream instead of many, so the bytes differ from the per-shot path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from schemas.artifacts import RenderPlan, ShotList

from .captions import episode_cues, write_ass
from .episode import audio_chain
from .ffmpeg import (
    GLOBAL_FLAGS,
    MediaInfo,
    RenderError,
    audio_encode_flags,
    font_env,
    probe,
    run_ffmpeg_into,
    video_encode_flags,
)
from .shots import GraphBuilder, build_shot_chain, caption_filter


def render_one_pass(shot_list: ShotList, plan: RenderPlan, asset_paths: dict[str, Path], out_path: Path,
                    audio_path: Path | None = None) -> MediaInfo:
    """The whole timeline in one ffmpeg run (the speed floor), with `audio_path` as the soundtrack if given."""
    out_path = Path(out_path).resolve()
    with tempfile.TemporaryDirectory(prefix="naos-onepass-") as tmp:
        workdir = Path(tmp)
        gb = GraphBuilder(workdir, plan.fps)
        labels, frames = [], 0
        for i, shot in enumerate(shot_list.shots):
            label, n = build_shot_chain(gb, shot, plan, asset_paths, f"s{i}")
            labels.append(label)
            frames += n
        gb.chains.append(f"{''.join(labels)}concat=n={len(labels)}:v=1:a=0[joined]")
        video = "[joined]"
        cues = episode_cues(shot_list, fps=plan.fps, label=plan.captions.speaker_labels) if plan.captions.burn_in else []
        if cues:
            write_ass(cues, workdir / "captions.ass", width=plan.width, height=plan.height, captions=plan.captions)
            gb.chains.append(f"{video}{caption_filter('captions.ass')}[out]")
            video = "[out]"
        rate = plan.encoder.audio_rate
        samples = round(frames * rate / plan.fps)
        audio_in: list[str] = []
        if audio_path is not None:
            audio_in = ["-i", f"file:{Path(audio_path).resolve()}"]
            gb.chains.append(audio_chain(f"[{gb.inputs.count('-i')}:a]", samples, rate))
        else:
            gb.chains.append(audio_chain(f"anullsrc=r={rate}:cl=stereo,", samples, rate))
        args = [
            "-y", *GLOBAL_FLAGS, *gb.inputs, *audio_in,
            "-filter_complex", ";".join(gb.chains),
            "-map", video, "-map", "[a]", "-frames:v", str(frames),
            *video_encode_flags(plan.encoder, plan.fps),
            *audio_encode_flags(plan.encoder),
            "-movflags", "+faststart",
            "-f", "mp4",
        ]  # fmt: skip
        run_ffmpeg_into(out_path, args, f"one-pass render of {shot_list.episode_id}", cwd=workdir,
                        env=font_env(workdir))
    info = probe(out_path)
    if info.frames != frames:
        raise RenderError("one-pass render", f"{out_path} has {info.frames} frames, the timeline has {frames}")
    return info
