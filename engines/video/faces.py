"""Faces that live: blinks for everyone on screen, a talking mouth for the speaker, driven by the line's mouth track.

A character image with a face rig (schemas.FaceRig: eyes, mouth, lid colour, in the image's pixels) gets a face
track: one small RGBA sprite per state (eyes open or shut × mouth closed, half open, open), drawn once per shot at
the size the character is drawn, and an image sequence naming the sprite of every frame (symlinks), which ffmpeg
overlays on the looped still before the camera moves. Only the face box changes from frame to frame; the rest of the
composite is still built once.

Deterministic: blink times come from a sha256 of the shot and character ids, mouth levels from the shot's lines
(their tracks are integers), sprites are drawn with integer coordinates by Pillow and written without metadata.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from schemas.artifacts import FaceRig, Shot

SS = 4  # sprites are drawn 4× and reduced (an integer box filter): smooth edges
BLINK_S = 0.125  # how long the lids stay shut
BLINK_GAP_S = (2.2, 5.0)  # seconds between blinks, from the shot's seed
LIP = (74, 28, 30)  # the inside of a mouth
TEETH = (236, 232, 222)
TONGUE = (178, 84, 86)
PNG_LEVEL = 6
BROW = (62, 44, 38)
# A speaker's feeling on the face, in eye radii: (inner brow end, outer brow end) raised (-) or lowered (+), and the
# resting mouth: smile, frown or o. Unlisted emotions keep the image's own brows and mouth.
EMOTION_FACES: dict[str, tuple[float, float, str]] = {
    "worried": (-0.9, 0.3, "frown"), "afraid": (-1.0, 0.2, "o"), "scared": (-1.0, 0.2, "o"), "sad": (-0.8, 0.4, "frown"),
    "grief": (-0.9, 0.5, "frown"), "tired": (-0.3, 0.5, "frown"), "uneasy": (-0.7, 0.2, "frown"),
    "desperate": (-1.0, 0.3, "o"), "angry": (0.7, -0.6, "frown"), "furious": (0.9, -0.7, "frown"),
    "tense": (0.5, -0.3, ""), "surprised": (-0.9, -0.9, "o"), "shocked": (-1.1, -1.0, "o"),
    "alarmed": (-1.0, -0.6, "o"), "curious": (-0.6, -0.2, ""), "happy": (-0.3, -0.3, "smile"),
    "warm": (-0.2, -0.2, "smile"), "hopeful": (-0.5, -0.3, "smile"), "amused": (-0.2, -0.4, "smile"),
}


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


@dataclass(frozen=True)
class FaceBox:
    """Where the sprites of one character sit in the composite (even coordinates, so chroma lines up) and how the
    character image was scaled to get there."""

    x: int
    y: int
    w: int
    h: int
    sx: float  # composite px per image px
    sy: float
    ox: float  # the image's top-left in the composite
    oy: float


def face_box(rig: FaceRig, ox: float, oy: float, sx: float, sy: float) -> FaceBox:
    """The box around the rig's eyes and mouth (with room for shut lids and an open mouth), in composite px."""
    left = min(min(e[0] for e in rig.eyes) - 2.4 * rig.eye_r, rig.mouth[0] - 0.75 * rig.mouth_w)
    right = max(max(e[0] for e in rig.eyes) + 2.4 * rig.eye_r, rig.mouth[0] + 0.75 * rig.mouth_w)
    top = min(b[1] for b in brow_centres(rig)) - 1.6 * rig.eye_r
    bottom = rig.mouth[1] + 0.6 * rig.mouth_w
    x0 = math.floor((ox + left * sx) / 2) * 2
    y0 = math.floor((oy + top * sy) / 2) * 2
    x1 = math.ceil((ox + right * sx) / 2) * 2
    y1 = math.ceil((oy + bottom * sy) / 2) * 2
    return FaceBox(x0, y0, max(2, x1 - x0), max(2, y1 - y0), sx, sy, ox, oy)


def brow_centres(rig: FaceRig) -> list[tuple[int, int]]:
    return list(rig.brows) or [(x, round(y - 2.6 * rig.eye_r)) for x, y in rig.eyes]


def draw_sprite(rig: FaceRig, box: FaceBox, shut: bool, level: int, shade: float = 1.0,
                emotion: str | None = None) -> Image.Image:
    """One face state as an RGBA sprite of the box's size: shut lids over the eyes, the mouth at `level` (0: the
    image's own closed mouth shows through, or the emotion's resting mouth), the emotion's brows (EMOTION_FACES);
    `shade` darkens it as the character is darkened (a listener)."""
    img = Image.new("RGBA", (box.w * SS, box.h * SS), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def at(px: float, py: float) -> tuple[float, float]:  # image px -> sprite px (supersampled)
        return ((box.ox + px * box.sx - box.x) * SS, (box.oy + py * box.sy - box.y) * SS)

    def ellipse(cx: float, cy: float, rx: float, ry: float, fill) -> None:
        (x, y), kx, ky = at(cx, cy), rx * box.sx * SS, ry * box.sy * SS
        d.ellipse([round(x - kx), round(y - ky), round(x + kx), round(y + ky)], fill=fill)

    feeling = EMOTION_FACES.get(emotion or "")
    r = rig.eye_r
    if feeling:  # brows: the image's own are painted over with skin, then drawn at the feeling's angle
        inner, outer, _ = feeling
        mid = sum(x for x, _ in rig.eyes) / len(rig.eyes)
        for bx, by in brow_centres(rig):
            ellipse(bx, by, 2.3 * r, 0.9 * r, (*_rgb(rig.skin), 255))
            side = -1 if bx < mid else 1  # the outer end is away from the nose
            (x0, y0) = at(bx - side * 1.8 * r, by + inner * r)
            (x1, y1) = at(bx + side * 1.8 * r, by + outer * r)
            brow = _rgb(rig.brow_colour) if rig.brow_colour else BROW
            d.line([(round(x0), round(y0)), (round(x1), round(y1))], fill=(*brow, 255),
                   width=max(SS, round(0.6 * r * box.sy * SS)))
    if shut:
        skin = _rgb(rig.skin)
        lid = tuple(max(0, c * 55 // 100) for c in skin)
        for ex, ey in rig.eyes:
            ellipse(ex, ey, 1.9 * rig.eye_r, 1.7 * rig.eye_r, (*skin, 255))
            (x, y), kx = at(ex, ey), 1.5 * rig.eye_r * box.sx * SS
            width = max(SS, round(0.55 * rig.eye_r * box.sy * SS))
            d.arc([round(x - kx), round(y - kx * 0.6), round(x + kx), round(y + kx * 0.6)], 10, 170, fill=(*lid, 255),
                  width=width)
    rest = feeling[2] if feeling else ""
    mx, my, mw = rig.mouth[0], rig.mouth[1], rig.mouth_w
    if level or rest:  # the image's own closed mouth, painted over
        ellipse(mx, my, 0.62 * mw, 0.22 * mw, (*_rgb(rig.mouth_bg or rig.skin), 255))
    if not level and rest:  # the resting mouth of a feeling
        if rest == "o":
            ellipse(mx, my, 0.16 * mw, 0.14 * mw, (*LIP, 255))
        else:
            (x, y), kx, ky = at(mx, my), 0.42 * mw * box.sx * SS, 0.2 * mw * box.sy * SS
            arc = [round(x - kx), round(y - ky * (2 if rest == "smile" else 0)), round(x + kx),
                   round(y + ky * (0 if rest == "smile" else 2))]
            d.arc(arc, *((20, 160) if rest == "smile" else (200, 340)), fill=(*LIP, 255),
                  width=max(SS, round(0.1 * mw * box.sy * SS)))
    if level:
        open_h = (0.16, 0.30)[level - 1] * mw
        ellipse(mx, my + open_h * 0.3, (0.34, 0.40)[level - 1] * mw, open_h, (*LIP, 255))
        if level == 2:
            ellipse(mx, my + open_h * 0.75, 0.22 * mw, 0.12 * mw, (*TONGUE, 255))
            (x, y), kx = at(mx, my - open_h * 0.45), 0.26 * mw * box.sx * SS
            d.rectangle([round(x - kx), round(y), round(x + kx), round(y + 0.09 * mw * box.sy * SS)],
                        fill=(*TEETH, 255))
    out = img.reduce(SS)
    if shade != 1.0:  # as ffmpeg's colorchannelmixer darkens the image under it (rounded to nearest)
        r, g, b, a = out.split()
        lut = [min(255, int(v * shade + 0.5)) for v in range(256)]
        out = Image.merge("RGBA", (r.point(lut), g.point(lut), b.point(lut), a))
    return out


def blink_frames(shot_id: str, character_id: str, frames: int, fps: int) -> set[int]:
    """Frames with shut lids: a blink every 2.2–5 s, times from a sha256 of the ids (the same on every machine)."""
    seed = hashlib.sha256(f"blink\x1f{shot_id}\x1f{character_id}".encode()).digest()
    lo, hi = round(BLINK_GAP_S[0] * fps), round(BLINK_GAP_S[1] * fps)
    length = max(2, round(BLINK_S * fps))
    shut: set[int] = set()
    f, i = seed[0] * fps // 160, 1  # the first blink within about 1.6 s
    while f < frames:
        shut.update(range(f, min(frames, f + length)))
        f += length + lo + seed[i % len(seed)] * (hi - lo) // 255
        i += 1
    return shut


def mouth_levels(shot: Shot, character_id: str, frames: int, fps: int) -> list[int]:
    """The character's mouth level on every frame: from the track of each line it speaks, spread over the line's
    slot; closed elsewhere."""
    levels = [0] * frames
    for line in shot.lines:
        if line.speaker_id != character_id or not line.mouth:
            continue
        span = line.end_s - line.start_s
        n = len(line.mouth)
        for f in range(max(0, math.ceil(line.start_s * fps)), min(frames, math.ceil(line.end_s * fps))):
            k = min(n - 1, int((f / fps - line.start_s) / span * n))
            levels[f] = int(line.mouth[k])
    return levels


def write_face_track(workdir: Path, name: str, rig: FaceRig, box: FaceBox, states: list[tuple[bool, int]],
                     shade: float = 1.0, emotion: str | None = None) -> str:
    """Sprites for the states used and an image sequence `{name}_%05d.png` (one symlink per frame) in workdir;
    returns the sequence's pattern."""
    drawn: dict[tuple[bool, int], str] = {}
    for state in sorted(set(states)):
        file = f"{name}_s{int(state[0])}{state[1]}.png"
        draw_sprite(rig, box, *state, shade=shade, emotion=emotion).save(workdir / file, format="PNG",
                                                                          compress_level=PNG_LEVEL)
        drawn[state] = file
    for f, state in enumerate(states):
        link = workdir / f"{name}_{f:05d}.png"
        try:
            os.symlink(drawn[state], link)
        except OSError:
            shutil.copyfile(workdir / drawn[state], link)
    return f"{name}_%05d.png"
