"""The one ffmpeg NAOS uses (imageio-ffmpeg's bundled binary), the flags that make its output byte-stable, and a probe.

There is no ffprobe in that bundle: `probe` and `h264_config` read container metadata with PyAV (libavformat, read
only). Rendering never goes through PyAV: every encode and filter graph runs the bundled binary.
"""

from __future__ import annotations

import functools
import os
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

from schemas.artifacts import EncoderSettings

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILE = FONTS_DIR / "DejaVuSans.ttf"
FONT_FAMILY = "DejaVu Sans"  # the family name inside FONT_FILE; libass matches styles against it

STDERR_TAIL_LINES = 25


class RenderError(RuntimeError):
    """An ffmpeg run (or a render precondition) failed. `what` says which step, `stderr` holds ffmpeg's last words."""

    def __init__(self, what: str, stderr: str = "", returncode: int | None = None, cmd: Sequence[str] | None = None):
        self.what = what
        self.stderr = stderr
        self.returncode = returncode
        self.cmd = list(cmd) if cmd is not None else None
        detail = f" (ffmpeg exit {returncode})" if returncode is not None else ""
        message = f"{what} failed{detail}"
        if stderr.strip():
            message += ":\n" + stderr.strip()
        super().__init__(message)


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def ffmpeg_version() -> str:
    """First line of `ffmpeg -version`, recorded in provenance: output bytes are only stable for one build."""
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-version"], capture_output=True, text=True, check=False)
    return (out.stdout or out.stderr).splitlines()[0].strip() if (out.stdout or out.stderr) else "ffmpeg (unknown)"


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_ffmpeg(
    args: Sequence[str],
    what: str,
    *,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    loglevel: str = "error",
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the bundled ffmpeg with `args` (without the executable). Raises RenderError(what, stderr tail) on failure."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", loglevel, *map(str, args)]
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise RenderError(what, _tail(stderr) + f"\n(timed out after {timeout} s)", None, cmd) from exc
    if proc.returncode != 0:
        raise RenderError(what, _tail(proc.stderr), proc.returncode, cmd)
    return proc


def run_ffmpeg_into(out_path: Path, args: Sequence[str], what: str, **kwargs) -> None:
    """Run ffmpeg with `args` (everything but the output) writing to a temporary name beside out_path, then
    rename it into place: out_path is complete or absent, never half-written."""
    tmp_out = partial_path(out_path)
    try:
        run_ffmpeg([*args, f"file:{tmp_out}"], what, **kwargs)
        os.replace(tmp_out, out_path)
    finally:
        tmp_out.unlink(missing_ok=True)


def partial_path(out_path: Path) -> Path:
    """A unique temporary name next to out_path: write there, then os.replace (never a half-written out_path)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return out_path.with_name(f".{out_path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")


# ---- determinism ------------------------------------------------------------------------------------------------

# Global options: put them before the first -i. RENDERING-NOTES: single-threaded filtering (simple and complex graphs).
GLOBAL_FLAGS: list[str] = ["-filter_threads", "1", "-filter_complex_threads", "1"]

# Output options: bit-exact muxing and encoding, no metadata (no encoder version strings, dates or titles).
BITEXACT_FLAGS: list[str] = [
    "-fflags", "+bitexact",
    "-flags:v", "+bitexact",
    "-flags:a", "+bitexact",
    "-map_metadata", "-1",
    "-map_chapters", "-1",
]  # fmt: skip


def video_determinism_flags(enc: EncoderSettings) -> list[str]:
    """Output options that make libx264's bytes independent of the machine's core count: pinned thread counts."""
    return [
        "-threads", "2",
        "-x264-params", f"threads={enc.x264_threads}:lookahead-threads=1:sliced-threads=0",
        *BITEXACT_FLAGS,
    ]  # fmt: skip


def video_encode_flags(enc: EncoderSettings, fps: int) -> list[str]:
    """Output options for every H.264 stream NAOS writes: identical for all clips of a plan so they concat by copy."""
    return [
        "-c:v", enc.video_codec,
        "-preset", enc.preset,
        "-crf", str(enc.crf),
        "-tune", enc.tune,
        "-profile:v", "high",
        "-pix_fmt", enc.pix_fmt,
        "-r", str(fps),
        "-fps_mode", "cfr",
        "-video_track_timescale", str(track_timescale(fps)),
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
        *video_determinism_flags(enc),
    ]  # fmt: skip


def audio_encode_flags(enc: EncoderSettings) -> list[str]:
    # the "fast" AAC coder: about 3 x the speed of the default two-loop search, deterministic, fine for speech
    return ["-c:a", enc.audio_codec, "-aac_coder", "fast", "-b:a", enc.audio_bitrate, "-ar", str(enc.audio_rate), "-ac", "2"]


def track_timescale(fps: int) -> int:
    """MP4 video timescale shared by every clip of a plan (fps × 512, e.g. 12288 at 24 fps)."""
    return int(fps) * 512


def font_env(workdir: Path) -> dict[str, str]:
    """Environment for ffmpeg with a hermetic fontconfig: it sees only engines/video/fonts, never system fonts.

    drawtext is given the font file directly; libass (subtitles=) also gets fontsdir=, but falls back to fontconfig
    for glyphs the font lacks. Pointing fontconfig at our directory alone makes that fallback machine-independent.
    """
    workdir = Path(workdir)
    conf = workdir / "fonts.conf"
    if not conf.exists():
        conf.write_text(
            '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
            f"  <dir>{xml_escape(str(FONTS_DIR))}</dir>\n"
            f"  <cachedir>{xml_escape(str(workdir / 'fontconfig-cache'))}</cachedir>\n"
            "</fontconfig>\n",
            encoding="utf-8",
        )
    env = dict(os.environ)
    env["FONTCONFIG_FILE"] = str(conf)
    env["FONTCONFIG_PATH"] = str(workdir)
    return env


# ---- probe ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float
    frames: int | None
    width: int | None
    height: int | None
    fps: float | None
    has_audio: bool
    has_video: bool = True
    audio_duration_s: float | None = None
    audio_rate: int | None = None


def _open(path: Path):
    """A PyAV (libavformat) input container for `path`, read-only: headers and stream parameters, no decoding."""
    import av

    return av.open(f"file:{path}")


def probe(path: Path | str, *, count_frames: bool = False) -> MediaInfo:
    """Media facts for `path`, from its container's metadata via PyAV: exact frame counts and durations for the MP4s
    this engine writes. Where the container records no frame count, count_frames=True counts the video's packets."""
    import av

    path = Path(path)
    if not path.is_file():
        raise RenderError(f"probe {path}", "file does not exist")
    try:
        with _open(path) as container:
            return _media_info(container, count_frames=count_frames)
    except (av.FFmpegError, OSError) as exc:
        raise RenderError(f"probe {path}", str(exc)) from exc


def _seconds(stream) -> float | None:
    return float(stream.duration * stream.time_base) if stream.duration else None


def _media_info(container, *, count_frames: bool) -> MediaInfo:
    from av.stream import Disposition

    # cover art (an "attached picture", e.g. an M4A's covr) is not a video track
    video = next((s for s in container.streams.video if not s.disposition & Disposition.attached_pic), None)
    audio = next(iter(container.streams.audio), None)
    whole_s = container.duration / 1_000_000 if container.duration else None  # AV_TIME_BASE units
    audio_s = (_seconds(audio) or whole_s) if audio is not None else None
    audio_rate = (audio.codec_context.sample_rate or None) if audio is not None else None
    if video is None:
        return MediaInfo(
            duration_s=audio_s or whole_s or 0.0, frames=None, width=None, height=None, fps=None,
            has_audio=audio is not None, has_video=False, audio_duration_s=audio_s, audio_rate=audio_rate,
        )  # fmt: skip
    frames = video.frames or None  # MP4: the sample count of the track
    if frames is None and count_frames:
        frames = sum(1 for packet in container.demux(video) if packet.size)  # demux only (size 0: the flush packet)
    rate = video.average_rate or video.base_rate
    return MediaInfo(
        duration_s=_seconds(video) or whole_s or 0.0, frames=frames, width=video.codec_context.width or None,
        height=video.codec_context.height or None, fps=round(float(rate), 6) if rate else None,
        has_audio=audio is not None, has_video=True, audio_duration_s=audio_s, audio_rate=audio_rate,
    )  # fmt: skip


def h264_config(path: Path | str) -> bytes | None:
    """The avcC box (SPS/PPS) of an MP4's H.264 track. Stream-copy concat keeps only the first clip's, so every
    clip joined must carry the same bytes here."""
    import av

    try:
        with _open(Path(path)) as container:
            if "mp4" not in container.format.name.split(","):
                return None
            record = next(
                (s.codec_context.extradata for s in container.streams.video
                 if s.codec_context.name == "h264" and s.codec_context.extradata),
                None,
            )  # fmt: skip
    except (av.FFmpegError, OSError):
        return None
    # PyAV gives the box's payload (the AVCDecoderConfigurationRecord); put the box header back on
    return None if record is None else (8 + len(record)).to_bytes(4, "big") + b"avcC" + record
