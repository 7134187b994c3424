"""Paint the example asset library for examples/pilot with Pillow, byte-identically on every run.

    python scripts/make_example_assets.py [--out examples/pilot/library]

Writes backgrounds/<location_id>.png (1280x720, opaque), characters/<character_id>.png (400x600,
RGBA on a transparent background), and beside every image a sidecar <file>.meta.yaml with its
licence and provenance. The sea cave (location `sea_cave`) gets no background on purpose: the
pipeline must render it as a flagged placeholder and carry on (seed 004 §9, Phase 0).

Only flat shapes, gradients and a seeded random generator are used, everything is drawn at twice
the size and scaled down once (antialiasing), and PNGs are written without metadata chunks
(pnginfo=None, optimize=False), so two runs with the same Pillow give the same bytes.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import wave
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "pilot" / "library"

BG_SIZE = (1280, 720)
CHAR_SIZE = (400, 600)
SS = 2  # supersampling factor: paint at SS x size, scale down once with LANCZOS

# The one location of the pilot that deliberately has no background image.
MISSING_ON_PURPOSE = "sea_cave"

PROVIDER = "naos scripts/make_example_assets.py"

RGB = tuple[int, int, int]


# ---- small painting helpers (all coordinates are in final-image pixels, scaled by SS) ----------


def _s(*values: float) -> list[int]:
    return [round(v * SS) for v in values]


def _pts(points: Sequence[tuple[float, float]]) -> list[tuple[int, int]]:
    return [(round(x * SS), round(y * SS)) for x, y in points]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(round(a[i] + (b[i] - a[i]) * t) for i in range(3))  # type: ignore[return-value]


def _vgradient(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], top: RGB, bottom: RGB) -> None:
    x0, y0, x1, y1 = _s(*box)
    h = max(1, y1 - y0)
    for y in range(y0, y1):
        draw.line([(x0, y), (x1 - 1, y)], fill=_mix(top, bottom, (y - y0) / h))


def _grade(img: Image.Image, tint: RGB, amount: float) -> Image.Image:
    """Colour-grade a finished background: blend toward a tint (the location's light)."""
    return Image.blend(img, Image.new("RGB", img.size, tint), amount)


def _overlay(img: Image.Image, paint: Callable[[ImageDraw.ImageDraw], None]) -> Image.Image:
    """Draw translucent shapes (light beams, glows) on a separate layer and composite it."""
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    paint(ImageDraw.Draw(layer))
    return Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")


def _glow(
    layer: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, colour: RGB, alpha: int, rings: int = 8
) -> None:
    """A soft round glow: concentric translucent discs, brightest in the middle."""
    for i in range(rings):
        r = radius * (rings - i) / rings
        layer.ellipse(_s(cx - r, cy - r, cx + r, cy + r), fill=colour + (alpha,))


def _finish(big: Image.Image, size: tuple[int, int]) -> Image.Image:
    return big.resize(size, Image.Resampling.LANCZOS)


# ---- backgrounds -------------------------------------------------------------------------------


def _sea(draw: ImageDraw.ImageDraw, horizon: float, top: RGB, bottom: RGB, wave: RGB, seed: int) -> None:
    _vgradient(draw, (0, horizon, 1280, 720), top, bottom)
    rng = random.Random(seed)
    for i in range(70):
        y = horizon + 8 + (720 - horizon) * (i / 70) ** 1.4
        x = rng.uniform(-40, 1280)
        length = 20 + 140 * (y - horizon) / (720 - horizon)
        draw.line(_pts([(x, y), (x + length, y)]), fill=wave, width=max(1, round(SS * (1 + 3 * (y - horizon) / 720))))


def _tower(draw: ImageDraw.ImageDraw, cx: float, base: float, height: float, width: float, lit: bool) -> None:
    """A tapered red-and-white lighthouse with gallery, lamp room and dome."""
    top = base - height
    half_b, half_t = width / 2, width * 0.34
    bands = 6
    for i in range(bands):
        ya, yb = base - height * i / bands, base - height * (i + 1) / bands
        ha = half_b + (half_t - half_b) * i / bands
        hb = half_b + (half_t - half_b) * (i + 1) / bands
        colour = (196, 48, 44) if i % 2 == 0 else (236, 232, 222)
        draw.polygon(_pts([(cx - ha, ya), (cx + ha, ya), (cx + hb, yb), (cx - hb, yb)]), fill=colour)
    draw.rectangle(_s(cx - half_t * 1.5, top - width * 0.06, cx + half_t * 1.5, top), fill=(40, 40, 48))
    room_h = width * 0.42
    glass = (255, 226, 120) if lit else (70, 80, 96)
    draw.rectangle(
        _s(cx - half_t * 0.95, top - width * 0.06 - room_h, cx + half_t * 0.95, top - width * 0.06), fill=glass
    )
    for k in (-0.35, 0.35):
        x = cx + half_t * k
        draw.line(_pts([(x, top - width * 0.06 - room_h), (x, top - width * 0.06)]), fill=(40, 40, 48), width=SS * 2)
    roof = top - width * 0.06 - room_h
    draw.polygon(
        _pts([(cx - half_t * 1.2, roof), (cx + half_t * 1.2, roof), (cx, roof - width * 0.45)]), fill=(40, 40, 48)
    )
    draw.ellipse(_s(cx - 4, roof - width * 0.45 - 8, cx + 4, roof - width * 0.45), fill=(40, 40, 48))


def _house(
    draw: ImageDraw.ImageDraw, x: float, base: float, w: float, h: float, wall: RGB, roof: RGB, lit: bool
) -> None:
    draw.rectangle(_s(x, base - h, x + w, base), fill=wall)
    draw.polygon(_pts([(x - 8, base - h), (x + w + 8, base - h), (x + w / 2, base - h - w * 0.45)]), fill=roof)
    window = (255, 214, 120) if lit else (58, 72, 88)
    for wx in (x + w * 0.2, x + w * 0.6):
        draw.rectangle(_s(wx, base - h * 0.7, wx + w * 0.2, base - h * 0.42), fill=window)
    draw.rectangle(_s(x + w * 0.42, base - h * 0.32, x + w * 0.58, base), fill=_mix(wall, (30, 30, 30), 0.55))


def _boat(draw: ImageDraw.ImageDraw, x: float, waterline: float, length: float, hull: RGB, sail: RGB | None) -> None:
    d = length * 0.18
    draw.polygon(
        _pts(
            [
                (x, waterline - d),
                (x + length, waterline - d),
                (x + length * 0.86, waterline),
                (x + length * 0.1, waterline),
            ]
        ),
        fill=hull,
    )
    draw.line(_pts([(x, waterline - d), (x + length, waterline - d)]), fill=(236, 230, 214), width=SS * 2)
    mast = x + length * 0.45
    draw.line(_pts([(mast, waterline - d), (mast, waterline - d - length * 0.9)]), fill=(60, 48, 40), width=SS * 3)
    if sail is not None:
        draw.polygon(
            _pts(
                [
                    (mast + 4, waterline - d - length * 0.85),
                    (mast + 4, waterline - d - 8),
                    (mast + length * 0.42, waterline - d - 8),
                ]
            ),
            fill=sail,
        )


def paint_harbor() -> Image.Image:
    """Gull Point Harbour by day: houses on the quay, boats, the lighthouse across the bay."""
    big = Image.new("RGB", (BG_SIZE[0] * SS, BG_SIZE[1] * SS))
    d = ImageDraw.Draw(big)
    horizon = 400
    _vgradient(d, (0, 0, 1280, horizon), (120, 170, 214), (214, 228, 236))
    d.ellipse(_s(540, 50, 620, 130), fill=(255, 246, 214))
    for cx, cy, r in ((260, 110, 40), (310, 100, 52), (360, 116, 36), (700, 170, 30), (740, 160, 42), (785, 172, 28)):
        d.ellipse(_s(cx - r, cy - r * 0.6, cx + r, cy + r * 0.6), fill=(244, 248, 250))
    # the headland across the bay, with the lighthouse on it
    d.polygon(
        _pts([(760, horizon), (880, 330), (1010, 300), (1140, 312), (1280, 350), (1280, horizon)]), fill=(92, 112, 104)
    )
    _tower(d, 1040, 306, 120, 34, lit=False)
    _sea(d, horizon, (84, 140, 170), (34, 82, 112), (150, 196, 214), seed=11)
    # the quay and a row of houses
    d.polygon(_pts([(0, 470), (620, 470), (680, 720), (0, 720)]), fill=(132, 128, 120))
    for i in range(9):
        y = 470 + i * 28
        d.line(_pts([(0, y), (620 + 60 * (y - 470) / 250, y)]), fill=(112, 108, 100), width=SS * 2)
    houses = [
        (10, 150, 130, (226, 214, 190), (70, 76, 92)),
        (170, 120, 160, (186, 96, 78), (62, 64, 78)),
        (300, 140, 120, (232, 226, 212), (84, 70, 64)),
        (450, 130, 145, (118, 150, 170), (62, 64, 78)),
    ]
    for x, w, h, wall, roof in houses:
        _house(d, x, 470, w, h, wall, roof, lit=False)
    for px in (560, 600, 640):  # mooring posts
        d.rectangle(_s(px, 455, px + 10, 500), fill=(78, 60, 46))
    _boat(d, 700, 560, 200, (176, 58, 48), (236, 224, 196))
    _boat(d, 960, 500, 130, (46, 92, 120), None)
    _boat(d, 1040, 660, 160, (214, 170, 70), None)
    return _grade(_finish(big, BG_SIZE), (255, 236, 200), 0.06)


def paint_lighthouse() -> Image.Image:
    """Gull Point Lighthouse at dusk: the lit tower on the rocks, its beam over a darkening sea."""
    big = Image.new("RGB", (BG_SIZE[0] * SS, BG_SIZE[1] * SS))
    d = ImageDraw.Draw(big)
    horizon = 450
    _vgradient(d, (0, 0, 1280, 260), (40, 44, 92), (140, 88, 128))
    _vgradient(d, (0, 260, 1280, horizon), (140, 88, 128), (248, 160, 96))
    rng = random.Random(7)
    for _ in range(40):
        x, y, r = rng.uniform(0, 1280), rng.uniform(0, 200), rng.choice((1.0, 1.5, 2.0))
        d.ellipse(_s(x - r, y - r, x + r, y + r), fill=(236, 232, 250))
    moon = Image.new("L", big.size, 0)  # a crescent: a disc minus an offset disc
    m = ImageDraw.Draw(moon)
    m.ellipse(_s(1110, 40, 1180, 110), fill=255)
    m.ellipse(_s(1130, 34, 1196, 100), fill=0)
    big.paste((246, 236, 210), (0, 0), moon)
    _sea(d, horizon, (92, 74, 110), (24, 34, 62), (188, 130, 120), seed=23)
    # rocky point rising on the right
    d.polygon(
        _pts(
            [
                (560, 720),
                (620, 560),
                (700, 520),
                (760, 470),
                (900, 440),
                (1040, 452),
                (1180, 430),
                (1280, 470),
                (1280, 720),
            ]
        ),
        fill=(44, 40, 52),
    )
    d.polygon(_pts([(640, 720), (700, 600), (780, 560), (860, 590), (900, 720)]), fill=(58, 52, 66))
    d.polygon(_pts([(1000, 720), (1060, 560), (1150, 540), (1280, 600), (1280, 720)]), fill=(34, 32, 44))
    # keeper's cottage beside the tower
    _house(d, 1070, 452, 110, 70, (214, 206, 194), (70, 50, 60), lit=True)

    def beams(layer: ImageDraw.ImageDraw) -> None:
        lamp = (960 * SS, 196 * SS)
        layer.polygon([lamp, (0, 60 * SS), (0, 250 * SS)], fill=(255, 232, 150, 70))
        layer.polygon([lamp, (1280 * SS, 150 * SS), (1280 * SS, 260 * SS)], fill=(255, 232, 150, 45))
        _glow(layer, 960, 196, 60, (255, 236, 160), 14)

    big = _overlay(big, beams)
    _tower(ImageDraw.Draw(big), 960, 470, 250, 64, lit=True)
    return _grade(_finish(big, BG_SIZE), (255, 170, 150), 0.08)


def paint_inn() -> Image.Image:
    """The Drowned Bell: beams, plank walls, a peat fire and a window over the night harbour."""
    big = Image.new("RGB", (BG_SIZE[0] * SS, BG_SIZE[1] * SS))
    d = ImageDraw.Draw(big)
    for i, x in enumerate(range(0, 1280, 64)):  # plank wall
        shade = (120, 80, 52) if i % 2 == 0 else (132, 90, 60)
        d.rectangle(_s(x, 0, x + 64, 520), fill=shade)
        d.line(_pts([(x, 0), (x, 520)]), fill=(90, 60, 40), width=SS * 2)
    _vgradient(d, (0, 520, 1280, 720), (96, 64, 44), (60, 40, 28))  # floor
    for y in (0, 120):  # ceiling beams
        d.rectangle(_s(0, y, 1280, y + 34), fill=(62, 40, 28))
    # window over the night harbour, with the lighthouse light far off
    d.rectangle(_s(120, 170, 440, 400), fill=(70, 48, 32))
    _vgradient(d, (136, 186, 424, 300), (22, 30, 64), (54, 62, 104))
    _vgradient(d, (136, 300, 424, 384), (24, 40, 66), (14, 24, 42))
    d.polygon(_pts([(300, 300), (340, 282), (424, 288), (424, 300)]), fill=(18, 20, 30))
    d.ellipse(_s(392, 266, 404, 278), fill=(255, 232, 150))
    d.line(_pts([(280, 186), (280, 384)]), fill=(70, 48, 32), width=SS * 8)
    d.line(_pts([(136, 285), (424, 285)]), fill=(70, 48, 32), width=SS * 8)
    # stone fireplace with a fire
    d.rectangle(_s(820, 220, 1160, 520), fill=(128, 122, 116))
    for row in range(6):
        for col in range(5):
            x = 820 + col * 68 + (34 if row % 2 else 0)
            y = 220 + row * 50
            d.rectangle(_s(x + 2, y + 2, min(x + 66, 1158), y + 48), outline=(104, 98, 94), width=SS * 2)
    d.rectangle(_s(800, 200, 1180, 226), fill=(84, 56, 40))  # mantel
    d.chord(_s(880, 320, 1100, 600), 180, 360, fill=(30, 22, 20))
    d.rectangle(_s(880, 460, 1100, 520), fill=(30, 22, 20))
    for pts, colour in (
        ([(910, 520), (950, 400), (990, 470), (1010, 380), (1050, 470), (1070, 520)], (232, 108, 40)),
        ([(940, 520), (975, 440), (1005, 490), (1030, 430), (1045, 520)], (252, 190, 70)),
    ):
        d.polygon(_pts(pts), fill=colour)
    # table with a lantern and a rolled chart
    d.rectangle(_s(420, 470, 760, 500), fill=(92, 58, 36))
    for lx in (440, 720):
        d.rectangle(_s(lx, 500, lx + 22, 640), fill=(76, 48, 30))
    d.rectangle(_s(560, 420, 600, 470), fill=(46, 40, 36))
    d.rectangle(_s(566, 428, 594, 462), fill=(255, 214, 120))
    d.rounded_rectangle(_s(620, 452, 740, 470), radius=8 * SS, fill=(232, 220, 190))
    d.line(_pts([(580, 160), (580, 230)]), fill=(40, 30, 24), width=SS * 2)  # hanging lamp
    d.polygon(_pts([(556, 230), (604, 230), (594, 262), (566, 262)]), fill=(50, 44, 40))

    def glow(layer: ImageDraw.ImageDraw) -> None:
        _glow(layer, 990, 470, 260, (255, 150, 60), 4, rings=20)
        _glow(layer, 580, 445, 110, (255, 220, 140), 5, rings=16)
        _glow(layer, 580, 250, 80, (255, 220, 140), 5, rings=16)

    big = _overlay(big, glow)
    return _grade(_finish(big, BG_SIZE), (255, 190, 110), 0.10)


BACKGROUNDS: dict[str, tuple[Callable[[], Image.Image], str, dict]] = {
    # stage: the light each shows and where people can stand (the quay, the rocks: not the sea), for the renderer
    "harbor": (
        paint_harbor,
        "Gull Point Harbour by day: slate-roofed houses on the quay, moored boats, the lighthouse across the bay.",
        {"time_of_day": "day", "floor": [0.0, 0.5]},
    ),
    "lighthouse": (
        paint_lighthouse,
        "Gull Point Lighthouse at dusk: the lit red-and-white tower on dark rocks, its beam sweeping the sea.",
        {"time_of_day": "dusk", "floor": [0.5, 0.98]},
    ),
    "inn": (
        paint_inn,
        "The Drowned Bell inn: plank walls, a peat fire, a lantern on the table, a window over the night harbour.",
        {"time_of_day": "night"},
    ),
}


# ---- characters --------------------------------------------------------------------------------

OUTLINE = (28, 26, 30, 255)


def _figure(
    coat: RGB, trousers: RGB, skin: RGB, hair: RGB, accent: Callable[[ImageDraw.ImageDraw], None], long_coat: bool
) -> Image.Image:
    """A flat, front-facing figure 400x600: legs, coat, arms, head; `accent` adds hat and props."""
    big = Image.new("RGBA", (CHAR_SIZE[0] * SS, CHAR_SIZE[1] * SS), (0, 0, 0, 0))
    d = ImageDraw.Draw(big)
    w = SS * 4
    # legs and boots
    for x in (158, 212):
        d.rounded_rectangle(_s(x, 380, x + 34, 560), radius=10 * SS, fill=trousers + (255,), outline=OUTLINE, width=w)
        d.rounded_rectangle(
            _s(x - 8, 548, x + 40, 580), radius=10 * SS, fill=(44, 36, 32, 255), outline=OUTLINE, width=w
        )
    # coat
    hem = 470 if long_coat else 410
    d.polygon(
        _pts([(140, 180), (260, 180), (280, 230), (288, hem), (112, hem), (120, 230)]),
        fill=coat + (255,),
        outline=OUTLINE,
        width=w,
    )
    d.line(_pts([(200, 200), (200, hem)]), fill=_mix(coat, (0, 0, 0), 0.35) + (255,), width=SS * 3)
    for y in range(230, hem - 20, 48):
        d.ellipse(_s(207, y, 217, y + 10), fill=(220, 200, 140, 255))
    # sleeves over the coat, then hands
    sleeve = _mix(coat, (0, 0, 0), 0.15) + (255,)
    left = [(144, 182), (114, 194), (86, 372), (120, 378), (138, 250)]
    for pts in (left, [(400 - x, y) for x, y in left]):
        d.polygon(_pts(pts), fill=sleeve, outline=OUTLINE, width=w)
    for cx in (103, 297):
        d.ellipse(_s(cx - 17, 372, cx + 17, 406), fill=skin + (255,), outline=OUTLINE, width=w)
    # neck and head
    d.rectangle(_s(186, 150, 214, 190), fill=skin + (255,), outline=OUTLINE, width=w)
    d.ellipse(_s(150, 60, 250, 170), fill=skin + (255,), outline=OUTLINE, width=w)
    d.chord(_s(150, 56, 250, 140), 180, 360, fill=hair + (255,))
    for ex in (180, 214):
        d.ellipse(_s(ex, 110, ex + 8, 118), fill=OUTLINE)
    accent(d)
    # brows and a closed mouth (the renderer opens it on the speaker's words: FACE is where, in the sidecar)
    brow = _mix(hair, (0, 0, 0), 0.45) + (255,)
    for ex in (184, 218):
        d.line(_pts([(ex - 7, 104), (ex + 7, 103)]), fill=brow, width=SS * 3)
    d.line(_pts([(189, 146), (211, 146)]), fill=(92, 44, 40, 255), width=SS * 3)
    return _finish(big, CHAR_SIZE)


def face(skin: RGB, hair: RGB, mouth_bg: RGB | None = None) -> dict:
    """The face rig of a `_figure` (schemas.FaceRig, in the image's pixels), for the sidecar's `face:`."""
    rig = {"eyes": [[184, 114], [218, 114]], "eye_r": 4, "mouth": [200, 146], "mouth_w": 22,
           "skin": "#{:02x}{:02x}{:02x}".format(*skin), "brows": [[184, 104], [218, 104]],
           "brow_colour": "#{:02x}{:02x}{:02x}".format(*_mix(hair, (0, 0, 0), 0.45))}
    if mouth_bg:
        rig["mouth_bg"] = "#{:02x}{:02x}{:02x}".format(*mouth_bg)
    return rig


def paint_mara() -> Image.Image:
    """Mara Quill: teal oilskin, red knit cap, a coil of rope over the shoulder."""

    def accent(d: ImageDraw.ImageDraw) -> None:
        d.chord(_s(146, 40, 254, 130), 180, 360, fill=(196, 52, 48, 255), outline=OUTLINE, width=SS * 4)
        d.rectangle(_s(146, 80, 254, 96), fill=(160, 40, 38, 255), outline=OUTLINE, width=SS * 3)
        d.ellipse(_s(188, 26, 212, 50), fill=(230, 220, 200, 255), outline=OUTLINE, width=SS * 3)
        for r in (30, 23, 16):  # a coil of rope hanging from her right hand
            d.ellipse(_s(300 - r, 436 - r, 300 + r, 436 + r), outline=(214, 180, 110, 255), width=SS * 5)

    return _figure((36, 132, 124), (60, 58, 70), (226, 180, 150), (120, 64, 40), accent, long_coat=False)


def paint_tobias() -> Image.Image:
    """Tobias Venn: long navy peacoat, keeper's peaked cap, white beard."""

    def accent(d: ImageDraw.ImageDraw) -> None:
        d.polygon(
            _pts([(162, 130), (238, 130), (232, 176), (200, 196), (168, 176)]),
            fill=(236, 234, 228, 255),
            outline=OUTLINE,
            width=SS * 3,
        )
        d.rounded_rectangle(_s(148, 48, 252, 86), radius=8 * SS, fill=(30, 36, 64, 255), outline=OUTLINE, width=SS * 4)
        d.polygon(_pts([(150, 84), (250, 84), (236, 100), (164, 100)]), fill=(20, 20, 26, 255))
        d.rectangle(_s(190, 58, 210, 74), fill=(220, 186, 90, 255))

    return _figure((38, 52, 96), (44, 44, 52), (232, 192, 164), (236, 236, 232), accent, long_coat=True)


def paint_ines() -> Image.Image:
    """Ines Calder: mustard travelling coat, dark hair in a bun, satchel and a rolled chart."""

    def accent(d: ImageDraw.ImageDraw) -> None:
        d.ellipse(_s(178, 34, 222, 76), fill=(44, 30, 28, 255), outline=OUTLINE, width=SS * 3)
        d.chord(_s(150, 56, 250, 140), 180, 360, fill=(44, 30, 28, 255))
        d.line(_pts([(146, 186), (262, 360)]), fill=(92, 58, 36, 255), width=SS * 8)
        d.rounded_rectangle(
            _s(232, 340, 300, 400), radius=8 * SS, fill=(120, 76, 46, 255), outline=OUTLINE, width=SS * 4
        )
        d.rounded_rectangle(
            _s(40, 376, 150, 400), radius=11 * SS, fill=(238, 228, 198, 255), outline=OUTLINE, width=SS * 3
        )
        d.line(_pts([(50, 388), (140, 388)]), fill=(168, 60, 52, 255), width=SS * 3)
        d.ellipse(
            _s(86, 372, 120, 406), fill=(198, 148, 112, 255), outline=OUTLINE, width=SS * 4
        )  # hand over the chart

    return _figure((208, 156, 52), (72, 62, 54), (198, 148, 112), (44, 30, 28), accent, long_coat=True)


def paint_aldo() -> Image.Image:
    """Aldo Finch: rust-red pea jacket, black watch cap, a lantern in his left hand."""

    def accent(d: ImageDraw.ImageDraw) -> None:
        d.chord(_s(148, 44, 252, 128), 180, 360, fill=(28, 28, 32, 255), outline=OUTLINE, width=SS * 4)
        d.rectangle(_s(148, 84, 252, 98), fill=(20, 20, 24, 255), outline=OUTLINE, width=SS * 3)
        d.polygon(_pts([(170, 150), (230, 150), (222, 172), (178, 172)]), fill=(92, 64, 44, 255))  # stubble
        d.line(_pts([(103, 406), (103, 424)]), fill=OUTLINE, width=SS * 4)
        d.rounded_rectangle(_s(84, 424, 122, 480), radius=6 * SS, fill=(250, 214, 120, 255), outline=OUTLINE,
                            width=SS * 4)

    return _figure((150, 62, 44), (50, 48, 56), (214, 168, 136), (40, 34, 30), accent, long_coat=False)


CHARACTERS: dict[str, tuple[Callable[[], Image.Image], str, dict]] = {
    "aldo": (paint_aldo, "Aldo Finch, supply-boat skipper: rust-red pea jacket, black watch cap, a lantern.",
             face((214, 168, 136), (40, 34, 30))),
    "mara": (paint_mara, "Mara Quill, fisher: teal oilskin coat, red knit cap, a coil of rope.", face((226, 180, 150), (120, 64, 40))),
    "tobias": (paint_tobias, "Tobias Venn, lighthouse keeper: long navy peacoat, peaked keeper's cap, white beard.",
               face((232, 192, 164), (236, 236, 232), mouth_bg=(236, 234, 228))),
    "ines": (paint_ines, "Ines Calder, cartographer: mustard coat, dark hair in a bun, satchel and a rolled chart.",
             face((198, 148, 112), (44, 30, 28))),
}


# ---- writing -----------------------------------------------------------------------------------


MADE_ON = "2026-11-20"  # §25.2 retrieval_date: when these assets were made (a constant, so sidecars are stable)


def sidecar_text(description: str, face: dict | None = None, stage: dict | None = None) -> str:
    meta = {
        "license_type": "generated_local",
        "attribution": "",
        "purchase_record": "",
        "provider_or_model": PROVIDER,
        "retrieval_date": MADE_ON,
        "redistributable": True,
        "description": description,
        **{k: v for k, v in (stage or {}).items() if not isinstance(v, list)},
    }
    text = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    for key, value in [*((k, v) for k, v in (stage or {}).items() if isinstance(v, list)), ("face", face)]:
        if value:  # lists and points inline: floor: [0.5, 0.98], mouth: [200, 146]
            text += yaml.safe_dump({key: value}, sort_keys=False, width=1000, default_flow_style=None)
    return text


def _write(path: Path, img: Image.Image, description: str, face: dict | None = None,
           stage: dict | None = None) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG", pnginfo=None, optimize=False)
    meta = path.with_name(path.name + ".meta.yaml")
    meta.write_bytes(sidecar_text(description, face, stage).encode("utf-8"))
    return [path, meta]


# ---- sound effects (sfx/<tag>.wav: mono 16-bit 22.05 kHz, from a seeded generator) ---------------------------

SFX_RATE = 22050


def _wav(samples: np.ndarray) -> bytes:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SFX_RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def sound_door() -> bytes:
    """Two knocks on a heavy wooden door: damped low thumps with a little noise."""
    t = np.arange(int(1.2 * SFX_RATE)) / SFX_RATE
    rng = np.random.default_rng(7)
    out = np.zeros_like(t)
    for start in (0.05, 0.42):
        k = np.clip(t - start, 0, None)
        env = np.where(t >= start, np.exp(-k * 28), 0.0)
        out += env * (0.7 * np.sin(2 * np.pi * 95 * k) + 0.25 * np.sin(2 * np.pi * 210 * k)
                      + 0.12 * rng.standard_normal(t.size))
    return _wav(0.6 * out / np.max(np.abs(out)))


def sound_waves() -> bytes:
    """Surf: low-passed noise swelling and falling twice."""
    n = int(4.0 * SFX_RATE)
    t = np.arange(n) / SFX_RATE
    noise = np.random.default_rng(11).standard_normal(n)
    smooth = np.convolve(noise, np.ones(24) / 24, mode="same")
    swell = 0.25 + 0.75 * np.sin(np.pi * t / 2.0) ** 2
    out = smooth * swell
    return _wav(0.5 * out / np.max(np.abs(out)))


def music_sea_theme() -> bytes:
    """An 8 s loop: a soft A-minor pad whose partials and swell complete whole cycles, so the loop has no seam."""
    t = np.arange(int(8 * SFX_RATE)) / SFX_RATE
    chord = sum(np.sin(2 * np.pi * (k / 8) * t) / (i + 1) for i, k in enumerate((1760, 2093, 2637, 880)))
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t) ** 2
    out = chord * swell
    return _wav(0.35 * out / np.max(np.abs(out)))


SOUNDS: dict[str, tuple[Callable[[], bytes], str]] = {
    "door": (sound_door, "Two knocks on a heavy wooden door."),
    "waves": (sound_waves, "Surf swelling against rocks."),
}


def _write_sound(path: Path, data: bytes, description: str) -> list[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    meta = path.with_name(path.name + ".meta.yaml")
    meta.write_bytes(sidecar_text(description).encode("utf-8"))
    return [path, meta]


def generate(out: Path) -> list[Path]:
    """Write the whole library under `out`; returns the written files, relative to `out`, sorted."""
    out = Path(out)
    written: list[Path] = []
    for location_id, (paint, description, stage) in BACKGROUNDS.items():
        assert location_id != MISSING_ON_PURPOSE
        written += _write(out / "backgrounds" / f"{location_id}.png", paint(), description, stage=stage)
    for character_id, (paint, description, rig) in CHARACTERS.items():
        written += _write(out / "characters" / f"{character_id}.png", paint(), description, rig)
    for tag, (make, description) in SOUNDS.items():
        written += _write_sound(out / "sfx" / f"{tag}.wav", make(), description)
    written += _write_sound(out / "music" / "sea_theme.wav", music_sea_theme(),
                            "Sea theme: a soft A-minor pad, an 8 s seamless loop, for the music bed.")
    return sorted(p.relative_to(out) for p in written)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="library folder to write (default: examples/pilot/library)"
    )
    args = parser.parse_args(argv)
    files = generate(args.out)
    total = sum((args.out / f).stat().st_size for f in files)
    for f in files:
        print(f"{f.as_posix():40s} {(args.out / f).stat().st_size:>8d} bytes")
    print(f"{len(files)} files, {total} bytes; no background for {MISSING_ON_PURPOSE!r} (placeholder on purpose)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
