"""The one ffmpeg NAOS uses (imageio-ffmpeg's bundled binary), the flags that make its output byte-stable, and a probe.

There is no ffprobe in that bundle: `probe` reads MP4 boxes directly (exact frame counts and durations for the files
this engine writes) and falls back to parsing the stderr of `ffmpeg -i` for anything else (WAV, PNG, ...).
"""

from __future__ import annotations

import functools
import os
import re
import struct
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
    return ["-c:a", enc.audio_codec, "-b:a", enc.audio_bitrate, "-ar", str(enc.audio_rate), "-ac", "2"]


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


def probe(path: Path | str, *, count_frames: bool = False) -> MediaInfo:
    """Media facts for `path`. MP4/MOV: exact, from the boxes. Else `ffmpeg -i`; count_frames=True decodes to count."""
    path = Path(path)
    if not path.is_file():
        raise RenderError(f"probe {path}", "file does not exist")
    info = _probe_mp4(path)
    if info is not None:
        return info
    return _probe_stderr(path, count_frames=count_frames)


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (.*)")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (.*)")
_SIZE = re.compile(r"(?:^|[ ,])(\d{2,5})x(\d{2,5})(?:[ ,\[]|$)")
_FPS = re.compile(r"(\d+(?:\.\d+)?)(k?) (?:fps|tbr)")
_RATE = re.compile(r"(\d+) Hz")
_FRAME = re.compile(r"frame=\s*(\d+)")


def _probe_stderr(path: Path, *, count_frames: bool) -> MediaInfo:
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", f"file:{path}"],
        capture_output=True, text=True, errors="replace", check=False,
    )  # fmt: skip
    err = proc.stderr
    if "Input #0" not in err:
        raise RenderError(f"probe {path}", _tail(err), proc.returncode)
    duration = 0.0
    if m := _DURATION.search(err):
        duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    width = height = None
    fps = None
    video = _VIDEO.search(err)
    if video:
        if m := _SIZE.search(video.group(1)):
            width, height = int(m.group(1)), int(m.group(2))
        if m := _FPS.search(video.group(1)):
            fps = float(m.group(1)) * (1000 if m.group(2) else 1)
    audio = _AUDIO.search(err)
    rate = int(m.group(1)) if audio and (m := _RATE.search(audio.group(1))) else None
    frames = None
    if video and count_frames:
        counted = run_ffmpeg(["-i", f"file:{path}", "-map", "0:v:0", "-f", "null", "-"], f"count frames of {path}",
                             loglevel="info")  # fmt: skip
        found = _FRAME.findall(counted.stderr)
        frames = int(found[-1]) if found else None
    return MediaInfo(
        duration_s=duration, frames=frames, width=width, height=height, fps=fps, has_audio=audio is not None,
        has_video=video is not None, audio_duration_s=duration if audio else None, audio_rate=rate,
    )  # fmt: skip


# MP4 boxes: only what NAOS needs (track kind, timescales, durations, sample counts, edit lists, tkhd size).


def _iter_boxes(buf: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind.decode("latin-1"), pos + header, pos + size
        pos += size


def _child(buf: bytes, start: int, end: int, kind: str) -> tuple[int, int] | None:
    for k, s, e in _iter_boxes(buf, start, end):
        if k == kind:
            return s, e
    return None


def _read_moov(path: Path) -> bytes | None:
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8 or head[4:8] not in (b"ftyp", b"moov", b"mdat", b"free", b"wide"):
            return None
        fh.seek(0)
        file_size = path.stat().st_size
        pos = 0
        while pos + 8 <= file_size:
            fh.seek(pos)
            hdr = fh.read(16)
            size, kind = struct.unpack_from(">I4s", hdr, 0)
            header = 8
            if size == 1:
                (size,) = struct.unpack_from(">Q", hdr, 8)
                header = 16
            elif size == 0:
                size = file_size - pos
            if size < header:
                return None
            if kind == b"moov":
                fh.seek(pos + header)
                return fh.read(size - header)
            pos += size
    return None


@dataclass
class _Track:
    kind: str
    timescale: int
    media_duration: int
    samples: int
    width: int | None
    height: int | None
    edit_duration_s: float | None
    sample_rate: int | None


def _parse_track(buf: bytes, start: int, end: int, movie_timescale: int) -> _Track | None:
    tkhd = _child(buf, start, end, "tkhd")
    mdia = _child(buf, start, end, "mdia")
    if mdia is None:
        return None
    mdhd = _child(buf, *mdia, "mdhd")
    hdlr = _child(buf, *mdia, "hdlr")
    if mdhd is None or hdlr is None:
        return None
    version = buf[mdhd[0]]
    if version == 1:
        timescale, duration = struct.unpack_from(">IQ", buf, mdhd[0] + 20)
    else:
        timescale, duration = struct.unpack_from(">II", buf, mdhd[0] + 12)
    kind = buf[hdlr[0] + 8 : hdlr[0] + 12].decode("latin-1")
    width = height = None
    if tkhd is not None:
        w, h = struct.unpack_from(">II", buf, tkhd[1] - 8)
        width, height = w >> 16, h >> 16
    samples = 0
    sample_rate = None
    minf = _child(buf, *mdia, "minf")
    stbl = _child(buf, *minf, "stbl") if minf else None
    if stbl is not None:
        stsz = _child(buf, *stbl, "stsz")
        if stsz is not None:
            (samples,) = struct.unpack_from(">I", buf, stsz[0] + 8)
        stsd = _child(buf, *stbl, "stsd")
        if stsd is not None and kind == "soun":
            # stsd fullbox(4) + count(4), then a sample entry box: header(8) + 8 reserved... + 16.16 rate at +24
            entry = stsd[0] + 8
            (rate_fixed,) = struct.unpack_from(">I", buf, entry + 8 + 24)
            sample_rate = rate_fixed >> 16
    edit_s = None
    edts = _child(buf, start, end, "edts")
    elst = _child(buf, *edts, "elst") if edts else None
    if elst is not None and movie_timescale:
        ev = buf[elst[0]]
        (count,) = struct.unpack_from(">I", buf, elst[0] + 4)
        total = 0
        pos = elst[0] + 8
        for _ in range(count):
            if ev == 1:
                seg, media_time = struct.unpack_from(">Qq", buf, pos)
                pos += 20
            else:
                seg, media_time = struct.unpack_from(">Ii", buf, pos)
                pos += 12
            if media_time != -1:
                total += seg
        edit_s = total / movie_timescale
    return _Track(kind, timescale, duration, samples, width, height, edit_s, sample_rate)


def h264_config(path: Path | str) -> bytes | None:
    """The avcC box (SPS/PPS) of an MP4's H.264 track. Stream-copy concat keeps only the first clip's, so every
    clip joined must carry the same bytes here."""
    try:
        moov = _read_moov(Path(path))
    except OSError:
        return None
    if moov is None or (at := moov.find(b"avcC")) < 4:
        return None
    (size,) = struct.unpack_from(">I", moov, at - 4)
    return moov[at - 4 : at - 4 + size]


def _probe_mp4(path: Path) -> MediaInfo | None:
    try:
        moov = _read_moov(path)
        if moov is None:
            return None
        mvhd = _child(moov, 0, len(moov), "mvhd")
        movie_ts = 0
        if mvhd is not None:
            off = 20 if moov[mvhd[0]] == 1 else 12
            (movie_ts,) = struct.unpack_from(">I", moov, mvhd[0] + off)
        tracks = [
            t for k, s, e in _iter_boxes(moov, 0, len(moov)) if k == "trak"
            if (t := _parse_track(moov, s, e, movie_ts)) is not None
        ]  # fmt: skip
    except (struct.error, IndexError, OSError):
        return None
    video = next((t for t in tracks if t.kind == "vide"), None)
    audio = next((t for t in tracks if t.kind == "soun"), None)
    if video is None and audio is None:
        return None
    audio_s = None
    if audio is not None and audio.timescale:
        audio_s = audio.edit_duration_s if audio.edit_duration_s else audio.media_duration / audio.timescale
    if video is not None and video.timescale:
        v_dur = video.media_duration / video.timescale
        fps = round(video.samples / v_dur, 6) if v_dur > 0 else None
        return MediaInfo(
            duration_s=v_dur, frames=video.samples, width=video.width, height=video.height, fps=fps,
            has_audio=audio is not None, has_video=True, audio_duration_s=audio_s,
            audio_rate=audio.sample_rate if audio else None,
        )  # fmt: skip
    return MediaInfo(
        duration_s=audio_s or 0.0, frames=None, width=None, height=None, fps=None, has_audio=True, has_video=False,
        audio_duration_s=audio_s, audio_rate=audio.sample_rate if audio else None,
    )  # fmt: skip
