"""A contact sheet of an episode: one thumbnail per shot (its middle frame), the shot id and time span under it.

contact_sheet(video, shots, fps, out_path, title="") -> ContactSheet     a PNG grid, written atomically

`shots` is the episode's shots in order as (shot id, frames): the ShotList's durations at the render fps
(`shot_frames`), or a RenderOutput's clips (`ShotClip.frames`); shot i starts where shot i-1 ends. Without shots the
sheet holds the middle frame of the whole video. Frames past the last shot (the attribution end card) are not shown.

Determinism: the frames are decoded and scaled by the bundled ffmpeg (H.264 decoding is bit-exact; swscale with
`bitexact+accurate_rnd+full_chroma_int`, single-threaded filtering), the labels are drawn with the bundled DejaVu Sans
(Pillow's BASIC layout) at integer coordinates, and the PNG carries no metadata: the same MP4 gives the same bytes.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from .captions import shot_frames
from .card import ellipsize, line_height, load_font, png_bytes
from .ffmpeg import GLOBAL_FLAGS, RenderError, partial_path, probe, run_ffmpeg

CONTACT_SHEET_VERSION = "contact-sheet@1"  # bump when the same video would give other PNG bytes
SWS_FLAGS = "bicubic+accurate_rnd+full_chroma_int+bitexact"
THUMB_WIDTH = 320
COLUMNS = 4
MARGIN, GAP = 16, 12
LABEL_SIZE, TITLE_SIZE = 14, 18
BACKGROUND, FRAME, TEXT, DIM = (22, 24, 28), (60, 64, 72), (236, 236, 236), (158, 164, 176)


@dataclass(frozen=True)
class SheetShot:
    shot_id: str
    start_frame: int
    frames: int

    @property
    def middle_frame(self) -> int:
        return self.start_frame + self.frames // 2


@dataclass(frozen=True)
class ContactSheet:
    path: Path
    width: int
    height: int
    shots: list[SheetShot]
    boxes: list[tuple[int, int, int, int]]  # each shot's thumbnail in the sheet: left, top, right, bottom


def sheet_shots(shots: Sequence[tuple[str, int]]) -> list[SheetShot]:
    """(shot id, frames) in episode order -> each shot's first frame and length."""
    out, start = [], 0
    for shot_id, frames in shots:
        if frames < 1:
            raise ValueError(f"shot {shot_id}: {frames} frames; a shot has at least one")
        out.append(SheetShot(shot_id, start, frames))
        start += frames
    return out


def shot_list_frames(shot_list, fps: int) -> list[tuple[str, int]]:
    """A ShotList's shots as (shot id, frames) at `fps`, by the render's rounding rule."""
    return [(s.id, shot_frames(s.duration_s, fps)) for s in shot_list.shots]


def timecode(seconds: float) -> str:
    """m:ss.ss (h:mm:ss.ss from an hour on)."""
    centis = round(seconds * 100)
    minutes, centis = divmod(centis, 6000)
    hours, minutes = divmod(minutes, 60)
    secs = f"{centis // 100:02d}.{centis % 100:02d}"
    return f"{hours}:{minutes:02d}:{secs}" if hours else f"{minutes}:{secs}"


def _thumb_size(width: int, height: int, thumb_width: int) -> tuple[int, int]:
    w = min(thumb_width, width) // 2 * 2
    return w, max(2, round(w * height / width / 2) * 2)


def extract_frames(video: Path, indices: Sequence[int], size: tuple[int, int]) -> list[Image.Image]:
    """Frames `indices` (ascending, distinct) of `video`, scaled to `size`, as RGB images: one decoding pass."""
    w, h = size
    picks = "+".join(f"eq(n\\,{i})" for i in indices)
    with tempfile.TemporaryDirectory(prefix="naos-contact-") as tmp:
        raw = Path(tmp) / "frames.rgb"
        run_ffmpeg([*GLOBAL_FLAGS, "-i", f"file:{video}", "-an", "-sn",
                    "-vf", f"select={picks},scale={w}:{h}:flags={SWS_FLAGS},format=rgb24", "-sws_flags", SWS_FLAGS,
                    "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", f"file:{raw}"],
                   "contact sheet: extract frames")
        data = raw.read_bytes()
    step = w * h * 3
    if len(data) != step * len(indices):
        raise RenderError("contact sheet: extract frames",
                          f"expected {len(indices)} frames of {w}x{h} from {video}, got {len(data) / step:g} "
                          f"(the video is shorter than its shots)")
    return [Image.frombytes("RGB", (w, h), data[k * step:(k + 1) * step]) for k in range(len(indices))]


def contact_sheet(video: Path | str, shots: Sequence[tuple[str, int]], fps: int, out_path: Path | str, *,
                  title: str = "", columns: int = COLUMNS, thumb_width: int = THUMB_WIDTH) -> ContactSheet:
    """Write the PNG grid to out_path (complete or absent, never half-written)."""
    video, out_path = Path(video), Path(out_path)
    info = probe(video)
    if not info.has_video or not info.width or not info.height:
        raise RenderError(f"contact sheet of {video}", "no video stream")
    entries = sheet_shots(shots)
    if not entries:  # no shot list: the clip's middle
        frames = info.frames or max(1, round(info.duration_s * fps))
        entries = [SheetShot(video.stem, 0, frames)]
    tw, th = _thumb_size(info.width, info.height, thumb_width)
    thumbs = extract_frames(video, [e.middle_frame for e in entries], (tw, th))

    label_font, title_font = load_font(LABEL_SIZE), load_font(TITLE_SIZE)
    lh = line_height(label_font)
    cols = max(1, min(columns, len(entries)))
    rows = math.ceil(len(entries) / cols)
    cell_w, cell_h = tw, th + 6 + 2 * lh
    top = MARGIN + (line_height(title_font) + GAP // 2 if title else 0)
    width = 2 * MARGIN + cols * cell_w + (cols - 1) * GAP
    height = top + rows * cell_h + (rows - 1) * GAP + MARGIN
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    boxes = []
    if title:
        draw.text((MARGIN, MARGIN), ellipsize(title, title_font, width - 2 * MARGIN), font=title_font, fill=TEXT)
    for k, (entry, thumb) in enumerate(zip(entries, thumbs, strict=True)):
        x = MARGIN + (k % cols) * (cell_w + GAP)
        y = top + (k // cols) * (cell_h + GAP)
        draw.rectangle([x - 1, y - 1, x + tw, y + th], outline=FRAME)
        sheet.paste(thumb, (x, y))
        boxes.append((x, y, x + tw, y + th))
        span = f"{timecode(entry.start_frame / fps)} \u2013 {timecode((entry.start_frame + entry.frames) / fps)}"
        draw.text((x, y + th + 4), ellipsize(entry.shot_id, label_font, tw), font=label_font, fill=TEXT)
        draw.text((x, y + th + 4 + lh), ellipsize(span, label_font, tw), font=label_font, fill=DIM)
    tmp = partial_path(out_path)
    try:
        tmp.write_bytes(png_bytes(sheet))
        os.replace(tmp, out_path)
    finally:
        tmp.unlink(missing_ok=True)
    return ContactSheet(out_path, width, height, entries, boxes)
