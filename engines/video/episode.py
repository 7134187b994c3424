"""Per-shot clips → the episode MP4: video by stream copy (concat demuxer), the episode audio encoded once."""

from __future__ import annotations

import tempfile
from pathlib import Path

from schemas.artifacts import RenderPlan

from .ffmpeg import (
    BITEXACT_FLAGS,
    GLOBAL_FLAGS,
    MediaInfo,
    RenderError,
    audio_encode_flags,
    h264_config,
    probe,
    run_ffmpeg_into,
    track_timescale,
)


def _concat_line(path: Path) -> str:
    quoted = str(path).replace("'", "'\\''")
    return f"file 'file:{quoted}'"


def audio_chain(source: str, samples: int, rate: int) -> str:
    """`source` ("[1:a]" or a source filter ending in ",") resampled to stereo `rate` Hz, then padded with silence
    or cut to exactly `samples` samples."""
    return (
        f"{source}aresample={rate},aformat=sample_fmts=fltp:sample_rates={rate}:channel_layouts=stereo,"
        f"apad,atrim=end_sample={samples}[a]"
    )


def concat_clips(clip_paths: list[Path], out_path: Path, plan: RenderPlan, audio_path: Path | None = None) -> MediaInfo:
    """Join clips (identical codec parameters, as render_shot writes them) by stream copy and add one AAC track.

    audio_path given: it is encoded to AAC and trimmed or padded with silence to the video's exact duration.
    Otherwise the track is silence (stereo, plan.encoder.audio_rate) of that duration. out_path is written through
    a temporary file in the same directory and renamed, so it is never seen half-written.
    """
    if not clip_paths:
        raise RenderError("concat clips", "no clips given")
    out_path = Path(out_path).resolve()
    frames = 0
    first_config = h264_config(clip_paths[0])
    for clip in clip_paths:
        info = probe(clip)
        if info.frames is None or not info.has_video:
            raise RenderError("concat clips", f"{clip} has no video track")
        if (
            (info.width, info.height) != (plan.width, plan.height)
            or info.fps is None
            or abs(info.fps - plan.fps) > 1e-3
        ):
            raise RenderError(
                "concat clips",
                f"{clip} is {info.width}x{info.height} @ {info.fps} fps; the plan needs {plan.width}x{plan.height} "
                f"@ {plan.fps} fps (stream copy needs identical parameters)",
            )
        if h264_config(clip) != first_config:
            raise RenderError(
                "concat clips",
                f"{clip} was encoded with other H.264 parameters (SPS/PPS) than {clip_paths[0]}; stream copy needs "
                "identical ones (re-render clips made with other encoder settings or another RENDERER_VERSION)",
            )
        frames += info.frames
    rate = plan.encoder.audio_rate
    samples = round(frames * rate / plan.fps)  # the video's exact duration, in audio samples

    with tempfile.TemporaryDirectory(prefix="naos-concat-") as tmp:
        listing = Path(tmp) / "clips.txt"
        listing.write_text(
            "ffconcat version 1.0\n" + "".join(_concat_line(Path(c).resolve()) + "\n" for c in clip_paths),
            encoding="utf-8",
        )
        if audio_path is not None:
            audio_path = Path(audio_path)
            if not audio_path.is_file():
                raise RenderError("concat clips", f"audio file {audio_path} does not exist")
            audio_in = ["-i", f"file:{audio_path.resolve()}"]
        else:
            audio_in = ["-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=stereo"]
        args = [
            "-y", *GLOBAL_FLAGS,
            "-f", "concat", "-safe", "0", "-i", f"file:{listing}",
            *audio_in,
            "-filter_complex", audio_chain("[1:a]", samples, rate),
            "-map", "0:v:0", "-map", "[a]",
            "-c:v", "copy",
            *audio_encode_flags(plan.encoder),
            "-video_track_timescale", str(track_timescale(plan.fps)),
            *BITEXACT_FLAGS,
            "-movflags", "+faststart",
            "-f", "mp4",
        ]  # fmt: skip
        run_ffmpeg_into(out_path, args, f"concat {len(clip_paths)} clips into {out_path.name}")
    info = probe(out_path)
    if info.frames != frames:
        raise RenderError("concat clips", f"{out_path} has {info.frames} frames, the clips hold {frames}")
    return info
