"""The resolver's local generative fallback (seed §9 step 4): stylised stills drawn from an asset's words, offline.

generate(kind, asset_id, name, description) -> (png bytes, "image/png")
  background  an opaque 16:9 backdrop: the kind of place from its name and description (settings.yaml: interior,
              cave, sea, forest, …; otherwise a hue from its sha256), light and weather from its words (night, dusk,
              storm, fog, …), sky/ground gradients, a horizon, a few motif shapes (a sea has a near shore or jetty to
              stand on: background_floor), a vignette and the place's name as a small caption
  character   an RGBA standing figure (1:2) with a face (eyes, brows, a closed mouth; character_face says where),
              tinted by the description's colour words
  prop        an RGBA plate: a simple shape for the prop (lamp, book, key, bottle, blade, chest, coin, …) and its name
  title/card  an opaque title card
Other kinds (music, sfx) raise ValueError: the caller tries its next source.

Determinism: the same inputs give the same PNG bytes on every machine. Randomness comes only from random.Random
seeded with a sha256 of the inputs; every coordinate is an integer; gradients and the vignette use integer arithmetic
(no libm functions, no float reductions); text uses the bundled DejaVu Sans with Pillow's BASIC layout; PNGs carry no
metadata. Shapes are drawn at twice the size and halved with Image.reduce (an integer box filter) for smooth edges.
The bytes also depend on the pinned Pillow build (its zlib and FreeType): bump GENERATOR_VERSION when they change.
"""

from __future__ import annotations

import colorsys
import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from engines.video.card import CardStyle, fit_text, mix, png_bytes, text_card, text_width

from .settings import Vocabulary, vocabulary

GENERATOR_VERSION = "naos-generate@2"  # 2: characters have faces  # bump whenever the bytes a given input produces change
MEDIA_TYPE = "image/png"
SS = 2  # supersampling factor for shapes
CAPTION_INSET = 0.09  # the background caption's distance from the lower-left corner, fraction of width and height

RGB = tuple[int, int, int]


# ---- words and colours ---------------------------------------------------------------------------------------------


def _words(*texts: str) -> list[str]:
    return re.findall(r"[a-z]+", " ".join(texts).lower())


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()


def _rng(*parts: str) -> random.Random:
    return random.Random(int.from_bytes(_digest(*parts)[:8], "big"))


def _hue(*parts: str) -> float:
    """A hue in [0, 1) from a sha256 of parts (256 steps)."""
    return _digest(*parts)[0] / 256


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, max(0.0, min(1.0, s)), max(0.0, min(1.0, v)))
    return (round(r * 255), round(g * 255), round(b * 255))


def _scale(c: Sequence[int], k: float) -> RGB:
    return tuple(max(0, min(255, round(x * k))) for x in c)  # type: ignore[return-value]


COLOUR_WORDS: dict[str, RGB] = {
    "teal": (22, 120, 124), "turquoise": (40, 170, 165), "cyan": (40, 160, 190),
    "red": (168, 40, 40), "crimson": (150, 20, 45), "scarlet": (190, 35, 30), "maroon": (105, 25, 35),
    "rust": (150, 70, 32), "orange": (212, 118, 40), "amber": (210, 140, 40),
    "yellow": (218, 188, 52), "gold": (200, 160, 52), "golden": (200, 160, 52), "ochre": (190, 140, 60),
    "green": (52, 118, 62), "olive": (108, 110, 50), "emerald": (30, 130, 80), "moss": (86, 108, 52),
    "blue": (42, 72, 160), "navy": (26, 36, 82), "indigo": (52, 40, 120), "azure": (60, 130, 200),
    "purple": (100, 50, 130), "violet": (120, 70, 160), "plum": (100, 45, 80), "pink": (218, 140, 160),
    "grey": (122, 124, 130), "gray": (122, 124, 130), "silver": (178, 182, 188), "ash": (150, 148, 144),
    "black": (32, 32, 36), "charcoal": (52, 54, 58), "dark": (44, 44, 50),
    "white": (230, 230, 224), "cream": (232, 220, 190), "ivory": (236, 230, 210), "pale": (214, 210, 200),
    "brown": (108, 72, 42), "tan": (196, 160, 112), "beige": (206, 186, 150), "khaki": (170, 160, 110),
    "copper": (180, 100, 60), "bronze": (160, 112, 56), "brass": (190, 150, 70),
}  # fmt: skip
HAIR_NOUNS = {"hair", "haired", "beard", "bearded", "braid", "braids", "curls", "moustache", "mustache"}
EYE_NOUNS = {"eyes", "eyed"}
HAIR_WORDS: dict[str, RGB] = {
    "blond": (214, 182, 110), "blonde": (214, 182, 110), "redhead": (160, 70, 30), "auburn": (130, 56, 30),
    "ginger": (180, 90, 40), "brunette": (78, 50, 30), "bald": (0, 0, 0),
}
NATURAL_HAIR: list[RGB] = [(40, 30, 24), (78, 50, 30), (120, 80, 44), (30, 30, 32), (150, 146, 140)]
SKIN_TONES: list[RGB] = [(241, 206, 178), (224, 178, 140), (198, 140, 100), (150, 100, 68), (106, 70, 48)]
MATERIAL_WORDS: dict[str, RGB] = {
    "brass": (190, 150, 70), "gold": (206, 166, 56), "golden": (206, 166, 56), "iron": (100, 104, 110),
    "steel": (150, 156, 164), "silver": (186, 190, 196), "wood": (128, 84, 46), "wooden": (128, 84, 46),
    "oak": (140, 96, 54), "glass": (150, 200, 200), "paper": (232, 222, 196), "parchment": (224, 206, 160),
    "leather": (120, 76, 44), "stone": (130, 128, 122), "copper": (184, 104, 60), "bone": (226, 218, 196),
}


def _colour_words(words: list[str]) -> tuple[list[RGB], RGB | None]:
    """(clothing colours in order, hair colour or None) from a description's words."""
    clothes: list[RGB] = []
    hair: RGB | None = None
    for i, word in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word in HAIR_WORDS and hair is None:
            hair = HAIR_WORDS[word]
        elif word in COLOUR_WORDS:
            if nxt in HAIR_NOUNS:
                hair = hair or COLOUR_WORDS[word]
            elif nxt not in EYE_NOUNS and word not in ("dark", "pale"):
                clothes.append(COLOUR_WORDS[word])
    return clothes, hair


# ---- shared drawing ------------------------------------------------------------------------------------------------


def _gradient_rows(height: int, top: Sequence[int], bottom: Sequence[int]) -> np.ndarray:
    """(height, 3) uint8 rows from top to bottom, integer interpolation."""
    y = np.arange(height, dtype=np.int64)[:, None]
    span = max(1, height - 1)
    a, b = np.asarray(top, dtype=np.int64)[None, :], np.asarray(bottom, dtype=np.int64)[None, :]
    return ((a * (span - y) + b * y) // span).astype(np.uint8)


def _vignette(image: Image.Image, strength: int = 84) -> Image.Image:
    """Darken towards the corners: factor 256 − strength·t²/1024² (t: elliptical distance², 0..1024), integers only."""
    w, h = image.size
    dx = np.arange(w, dtype=np.int64) * 2 - (w - 1)
    dy = np.arange(h, dtype=np.int64) * 2 - (h - 1)
    num = np.add.outer(dy * dy * (w * w), dx * dx * (h * h))  # (h, w)
    t = num * 1024 // (2 * w * w * h * h)
    factor = 256 - strength * t * t // (1024 * 1024)
    arr = np.asarray(image, dtype=np.int64)
    out = (arr * factor[:, :, None]) >> 8
    return Image.fromarray(out.astype(np.uint8))


def _label(
    image: Image.Image,
    text: str,
    *,
    anchor: str,
    size: int,
    max_width: int,
    margin: int | tuple[int, int],
    fg: RGB,
    bg: RGB,
    alpha: int,
) -> None:
    """A one-line text on a rounded, translucent box, in place. anchor: "bottom-left" or "bottom-center";
    margin: pixels from the edges, or (x, y)."""
    text = " ".join(text.split())
    if not text:
        return
    pad_x = max(3, size // 2)  # the box, padding included, is at most max_width wide
    block = fit_text(text, max(8, max_width - 2 * pad_x), round(size * 1.3), size, max(6, size // 2), max_lines=1)
    line = block.lines[0]
    font = block.font
    pad_y = max(2, font.size // 4)
    ascent, descent = font.getmetrics()
    box_w = round(text_width(font, line)) + 2 * pad_x
    box_h = ascent + descent + 2 * pad_y
    w, h = image.size
    mx, my = margin if isinstance(margin, tuple) else (margin, margin)
    box_w, box_h = min(box_w, w - 2 * mx), min(box_h, h - 2 * my)
    x = mx if anchor == "bottom-left" else (w - box_w) // 2
    y = h - my - box_h
    layer = Image.new("RGBA", (box_w, box_h), (*bg, 0))
    mask = Image.new("L", (box_w, box_h), 0)
    ImageDraw.Draw(mask).rounded_rectangle([0, 0, box_w - 1, box_h - 1], radius=max(2, box_h // 4), fill=alpha)
    layer.putalpha(mask)
    ImageDraw.Draw(layer).text((pad_x, pad_y), line, font=font, fill=(*fg, 255))
    if image.mode == "RGBA":
        image.alpha_composite(layer, (x, y))
    else:
        image.paste(layer, (x, y), layer)


# ---- backgrounds ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Palette:
    sky_top: RGB
    sky_bottom: RGB
    ground_top: RGB
    ground_bottom: RGB
    accent: RGB
    far: RGB  # distant shapes (hills, skyline), near the sky's colour
    near: RGB  # near shapes (trees, rocks), near the ground's colour


@dataclass(frozen=True)
class Theme:
    name: str
    palette: Palette
    interior: bool = False


def _theme(name: str, sky: tuple[RGB, RGB], ground: tuple[RGB, RGB], accent: RGB, far: RGB, near: RGB,
           interior: bool = False) -> Theme:  # fmt: skip
    return Theme(name, Palette(*sky, *ground, accent, far, near), interior)


# The palette of each kind of place; which words make a place that kind is data (settings.yaml).
THEMES: list[Theme] = [
    _theme("interior",
           ((58, 34, 22), (120, 74, 40)), ((96, 60, 34), (36, 22, 14)), (255, 196, 112), (44, 28, 20), (70, 42, 24),
           interior=True),
    _theme("cave",
           ((46, 50, 64), (30, 32, 42)), ((40, 40, 48), (12, 12, 18)), (158, 184, 214), (24, 26, 34), (12, 12, 18),
           interior=True),
    _theme("sea",
           ((38, 86, 132), (156, 198, 212)), ((38, 108, 128), (12, 50, 68)), (222, 236, 236), (64, 100, 120),
           (20, 60, 76)),
    _theme("forest",
           ((72, 112, 122), (176, 200, 164)), ((48, 84, 42), (16, 34, 18)), (210, 224, 170), (70, 104, 84),
           (24, 52, 28)),
    _theme("desert",
           ((86, 146, 198), (238, 212, 164)), ((216, 172, 98), (146, 98, 48)), (252, 238, 196), (196, 150, 100),
           (170, 120, 64)),
    _theme("city",
           ((62, 82, 112), (184, 174, 162)), ((84, 82, 86), (38, 38, 42)), (255, 214, 140), (70, 78, 96),
           (46, 46, 52)),
    _theme("mountain",
           ((70, 110, 160), (196, 212, 220)), ((96, 126, 70), (40, 62, 34)), (236, 240, 230), (98, 118, 140),
           (58, 84, 48)),
]
THEME_BY_NAME = {t.name: t for t in THEMES}
NIGHT = {"night", "midnight", "nighttime", "moon", "moonlit", "moonlight", "stars", "starry", "dark", "darkness"}
DUSK = {"dusk", "sunset", "evening", "twilight", "sundown", "gloaming"}
DAWN = {"dawn", "sunrise", "morning", "daybreak"}
FOG = {"fog", "foggy", "mist", "misty", "haze", "hazy"}
STORM = {"storm", "stormy", "rain", "rainy", "thunder", "lightning", "tempest", "squall", "gale", "overcast"}


def _fallback_theme(description: str) -> Theme:
    h = _hue("background", description)
    pal = Palette(
        sky_top=_hsv(h, 0.45, 0.50), sky_bottom=_hsv(h + 0.04, 0.22, 0.86),
        ground_top=_hsv(h + 0.10, 0.40, 0.46), ground_bottom=_hsv(h + 0.12, 0.50, 0.18),
        accent=_hsv(h + 0.5, 0.30, 0.95), far=_hsv(h + 0.02, 0.30, 0.58), near=_hsv(h + 0.12, 0.45, 0.28),
    )  # fmt: skip
    return Theme("plain", pal)


def _pick_theme(name: str, description: str, vocab: Vocabulary) -> Theme:
    kind = vocab.kind_of(name, description)
    return THEME_BY_NAME[kind] if kind in THEME_BY_NAME else _fallback_theme(description)


def _moods(words: list[str]) -> set[str]:
    ws = set(words)
    moods = {name for name, keys in (("night", NIGHT), ("dusk", DUSK), ("dawn", DAWN), ("fog", FOG),
                                     ("storm", STORM)) if ws & keys}  # fmt: skip
    if "night" in moods:
        moods -= {"dusk", "dawn"}
    if "storm" in ws or "stormy" in ws:
        moods.add("storm")
    return moods


def _apply_moods(p: Palette, moods: set[str], interior: bool) -> Palette:
    if "storm" in moods:
        grey = (118, 122, 128)
        p = Palette(*(mix(c, grey, 0.55) for c in (p.sky_top, p.sky_bottom)), *(mix(c, grey, 0.3) for c in (
            p.ground_top, p.ground_bottom)), p.accent, mix(p.far, grey, 0.5), mix(p.near, grey, 0.25))  # fmt: skip
        p = replace(p, sky_top=_scale(p.sky_top, 0.62), sky_bottom=_scale(p.sky_bottom, 0.82))
    if "dusk" in moods and not interior:
        p = replace(p, sky_top=mix(p.sky_top, (70, 48, 104), 0.55), sky_bottom=mix(p.sky_bottom, (244, 152, 88), 0.6),
                    ground_top=mix(p.ground_top, (150, 90, 70), 0.25), far=mix(p.far, (88, 60, 96), 0.5),
                    ground_bottom=_scale(p.ground_bottom, 0.85), near=_scale(p.near, 0.8))  # fmt: skip
    if "dawn" in moods and not interior:
        p = replace(p, sky_top=mix(p.sky_top, (120, 140, 190), 0.4), sky_bottom=mix(p.sky_bottom, (250, 204, 176), 0.5))
    if "night" in moods:
        if interior:
            p = replace(p, sky_top=_scale(p.sky_top, 0.6), sky_bottom=_scale(p.sky_bottom, 0.7),
                        ground_top=_scale(p.ground_top, 0.7), ground_bottom=_scale(p.ground_bottom, 0.6))  # fmt: skip
        else:
            blue = (16, 24, 52)
            p = Palette(mix(p.sky_top, (4, 8, 22), 0.8), mix(p.sky_bottom, blue, 0.7), mix(p.ground_top, blue, 0.6),
                        mix(p.ground_bottom, (4, 6, 12), 0.7), p.accent, mix(p.far, (10, 14, 30), 0.7),
                        mix(p.near, (6, 8, 16), 0.7))  # fmt: skip
    if "fog" in moods:
        fog = (176, 180, 184)
        p = replace(p, sky_top=mix(p.sky_top, fog, 0.35), sky_bottom=mix(p.sky_bottom, fog, 0.45),
                    far=mix(p.far, fog, 0.5), ground_top=mix(p.ground_top, fog, 0.25))  # fmt: skip
    return p


@dataclass
class Canvas:
    """A supersampled RGB drawing surface with its palette and seeded random source."""

    image: Image.Image
    draw: ImageDraw.ImageDraw  # mode "RGBA": translucent fills blend
    rng: random.Random
    pal: Palette
    horizon: int
    moods: set[str]
    words: set[str]

    @property
    def w(self) -> int:
        return self.image.size[0]

    @property
    def h(self) -> int:
        return self.image.size[1]

    def ri(self, a: float, b: float) -> int:
        """A random integer between a and b (inclusive, rounded)."""
        lo, hi = round(a), round(b)
        return self.rng.randint(min(lo, hi), max(lo, hi))


def _ridge(c: Canvas, base_y: int, amp: int, colour: RGB, steps: int) -> None:
    """A jagged ridge line from left to right above base_y, filled down to the bottom."""
    pts = [(0, c.h)]
    for i in range(steps + 1):
        pts.append((round(c.w * i / steps), base_y - c.ri(0, amp)))
    pts.append((c.w, c.h))
    c.draw.polygon(pts, fill=colour)


def _clouds(c: Canvas, n: int, colour: RGB, alpha: int) -> None:
    for _ in range(n):
        cx, cy = c.ri(0, c.w), c.ri(c.h * 0.05, c.horizon * 0.6)
        cw, ch = c.ri(c.w * 0.08, c.w * 0.2), c.ri(c.h * 0.02, c.h * 0.05)
        for k in range(3):
            ox = c.ri(-cw // 2, cw // 2)
            oy = c.ri(-ch // 2, ch // 4)
            c.draw.ellipse([cx + ox - cw // 2, cy + oy - ch, cx + ox + cw // 2, cy + oy + ch], fill=(*colour, alpha))
            if k == 0:
                cw = cw * 3 // 4


GLOW_RINGS = 32


def _glow(c: Canvas, cx: int, cy: int, radius: int, colour: RGB, rings: int = 8, alpha: int = 22) -> None:
    """A radial glow: concentric translucent discs. rings × alpha is its strength at the centre, drawn as
    GLOW_RINGS fainter discs so its steps stay below what the eye picks out."""
    a = max(2, round(alpha * rings / GLOW_RINGS))
    for i in range(GLOW_RINGS):
        r = radius * (GLOW_RINGS - i) // GLOW_RINGS
        c.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(*colour, a))


def _sky_features(c: Canvas) -> None:
    if "night" in c.moods:
        for _ in range(c.ri(60, 110)):
            x, y = c.ri(0, c.w), c.ri(0, c.horizon * 0.8)
            r = c.ri(1, 3) * SS // 2 + 1
            c.draw.ellipse([x - r, y - r, x + r, y + r], fill=(236, 236, 250, c.ri(90, 220)))
        mx, my, mr = c.ri(c.w * 0.6, c.w * 0.88), c.ri(c.h * 0.1, c.h * 0.22), round(c.h * 0.045)
        _glow(c, mx, my, mr * 3, (200, 210, 240), rings=6, alpha=10)
        c.draw.ellipse([mx - mr, my - mr, mx + mr, my + mr], fill=(236, 234, 220))
    elif "dusk" in c.moods or "dawn" in c.moods:
        sx, sr = c.ri(c.w * 0.25, c.w * 0.75), round(c.h * 0.06)
        sy = c.horizon - sr * 6 // 5
        _glow(c, sx, sy, sr * 4, (255, 190, 120), rings=8, alpha=16)
        c.draw.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=(255, 214, 150))
    if "storm" in c.moods:
        _clouds(c, 9, _scale(c.pal.sky_top, 0.7), 150)
    elif "fog" not in c.moods and "night" not in c.moods:
        _clouds(c, c.ri(2, 5), mix(c.pal.sky_bottom, (255, 255, 255), 0.5), 90)


def _motif_sea(c: Canvas) -> None:
    # a headland on one side, a low far shore on the other
    side = c.rng.random() < 0.5
    hx = round(c.w * (0.18 if side else 0.82))
    c.draw.polygon([(0 if side else c.w, c.horizon), (0 if side else c.w, c.horizon - c.ri(c.h * 0.10, c.h * 0.16)),
                    (hx, c.horizon - c.ri(c.h * 0.03, c.h * 0.06)), (hx + (c.w // 8 if side else -c.w // 8),
                    c.horizon)], fill=c.pal.far)  # fmt: skip
    far_x = c.ri(c.w * 0.45, c.w * 0.6)
    c.draw.polygon([(far_x, c.horizon), (far_x + c.w // 12, c.horizon - c.ri(c.h * 0.015, c.h * 0.03)),
                    (far_x + c.w // 4, c.horizon)], fill=c.pal.far)  # fmt: skip
    if "lighthouse" in c.words:
        lx, top = hx - (c.w // 40 if side else -c.w // 40), c.horizon - round(c.h * 0.26)
        bw = round(c.w * 0.012)
        c.draw.polygon([(lx - bw, c.horizon - round(c.h * 0.05)), (lx - bw * 2 // 3, top), (lx + bw * 2 // 3, top),
                        (lx + bw, c.horizon - round(c.h * 0.05))], fill=(228, 226, 218))  # fmt: skip
        c.draw.rectangle([lx - bw, top - bw * 2, lx + bw, top], fill=c.pal.accent)
        _glow(c, lx, top - bw, round(c.h * 0.06), (255, 236, 170), rings=6, alpha=20)
    # light on the water
    for _ in range(c.ri(24, 40)):
        y = c.ri(c.horizon + c.h * 0.01, c.h * 0.98)
        depth = (y - c.horizon) / max(1, c.h - c.horizon)
        length = round(c.w * (0.02 + 0.08 * depth))
        x = c.ri(0, c.w - length)
        thick = max(SS, round(c.h * 0.003 * (1 + 2 * depth)))
        c.draw.rectangle([x, y, x + length, y + thick], fill=(*c.pal.accent, c.ri(40, 110)))
    # boats at anchor
    for _ in range(c.ri(1, 3)):
        bx, by = c.ri(c.w * 0.1, c.w * 0.9), c.ri(c.horizon + c.h * 0.06, c.h * 0.8)
        s = (by - c.horizon) / max(1, c.h - c.horizon)
        bl, bh = round(c.w * (0.04 + 0.08 * s)), round(c.h * (0.01 + 0.03 * s))
        hull = _scale(c.pal.near, 0.6)
        c.draw.polygon([(bx - bl // 2, by - bh), (bx + bl // 2, by - bh), (bx + bl * 3 // 8, by),
                        (bx - bl * 3 // 8, by)], fill=hull)  # fmt: skip
        mast = max(SS, bl // 40)
        c.draw.rectangle([bx - mast, by - bh - bl, bx + mast, by - bh], fill=hull)
        c.draw.polygon([(bx + mast * 2, by - bh - bl + bl // 10), (bx + mast * 2, by - bh - bl // 8),
                        (bx + bl * 2 // 5, by - bh - bl // 8)], fill=mix(c.pal.accent, c.pal.sky_bottom, 0.3))


def _tree(c: Canvas, x: int, base: int, height: int, colour: RGB) -> None:
    """A conifer: three stacked triangles, each wider, on a short trunk."""
    trunk_h = height // 6
    crown = height - trunk_h
    trunk = max(SS, height // 24)
    c.draw.rectangle([x - trunk, base - trunk_h - SS, x + trunk, base], fill=_scale(colour, 0.6))
    for tier in range(3):
        top = base - height + tier * crown // 4
        half = height * (tier + 2) // 14
        c.draw.polygon([(x, top), (x - half, top + crown // 2), (x + half, top + crown // 2)], fill=colour)


def _motif_forest(c: Canvas) -> None:
    _ridge(c, c.horizon, round(c.h * 0.05), c.pal.far, 12)
    for row, (depth, haze) in enumerate(((0.0, 0.6), (0.35, 0.3), (0.8, 0.0))):
        base = c.horizon + round((c.h - c.horizon) * depth * 0.7)
        colour = mix(c.pal.near, c.pal.far, haze)  # further rows fade towards the distance colour
        n = 16 - row * 4
        for i in range(n):
            x = round(c.w * (i + c.rng.random()) / n)
            _tree(c, x, base + c.ri(0, c.h * 0.02), round(c.h * (0.16 + 0.14 * row) * (0.8 + 0.4 * c.rng.random())),
                  colour)


# 12 unit vectors, 30° apart (constants, so no libm call decides a coordinate)
_RING = [(1000, 0), (866, 500), (500, 866), (0, 1000), (-500, 866), (-866, 500), (-1000, 0), (-866, -500),
         (-500, -866), (0, -1000), (500, -866), (866, -500)]  # fmt: skip


def _motif_cave(c: Canvas) -> None:
    # the mouth: an irregular opening in the far wall showing the light outside (the sea, if there is one)
    ox, oy = c.ri(c.w * 0.35, c.w * 0.65), c.horizon - round(c.h * 0.1)
    rx, ry = c.ri(c.w * 0.1, c.w * 0.16), c.ri(c.h * 0.16, c.h * 0.24)
    outside = (18, 30, 62) if "night" in c.moods else mix(c.pal.accent, (255, 255, 255), 0.3)
    _glow(c, ox, oy, round(ry * 2.2), c.pal.accent, rings=10, alpha=10)
    mouth = [(ox + rx * ux * c.ri(80, 115) // 100_000, oy + ry * uy * c.ri(80, 115) // 100_000) for ux, uy in _RING]
    c.draw.polygon(mouth, fill=outside)
    if c.words & set(vocabulary().kinds.get("sea", ())):
        sea = (20, 40, 70) if "night" in c.moods else (52, 112, 136)
        c.draw.rectangle([ox - rx, oy + ry // 5, ox + rx, oy + ry // 5 + SS * 2], fill=mix(outside, sea, 0.3))
        c.draw.polygon([(x, max(y, oy + ry // 5)) for x, y in mouth], fill=sea)
    # walls: darker rock masses either side
    for side in (0, 1):
        edge = 0 if side == 0 else c.w
        inner = round(c.w * (0.16 if side == 0 else 0.84))
        pts = [(edge, 0), (inner + c.ri(-c.w * 0.04, c.w * 0.04), c.h // 4), (inner + c.ri(-c.w * 0.06, c.w * 0.02),
               c.horizon), (edge, c.h)]  # fmt: skip
        c.draw.polygon(pts, fill=(*c.pal.far, 200))
    for _ in range(c.ri(14, 22)):
        x, wdt = c.ri(0, c.w), c.ri(c.w * 0.015, c.w * 0.05)
        c.draw.polygon([(x - wdt, 0), (x + wdt, 0), (x + c.ri(-wdt // 3, wdt // 3), c.ri(c.h * 0.08, c.h * 0.32))],
                       fill=c.pal.near)  # fmt: skip
    for _ in range(c.ri(6, 12)):
        x, wdt = c.ri(0, c.w), c.ri(c.w * 0.02, c.w * 0.06)
        c.draw.polygon([(x - wdt, c.h), (x + wdt, c.h), (x, c.h - c.ri(c.h * 0.08, c.h * 0.24))],
                       fill=_scale(c.pal.near, 0.7))
    for _ in range(c.ri(4, 8)):
        x, y = c.ri(0, c.w), c.ri(c.horizon, c.h)
        rw, rh = c.ri(c.w * 0.03, c.w * 0.09), c.ri(c.h * 0.02, c.h * 0.05)
        c.draw.ellipse([x - rw, y - rh, x + rw, y + rh], fill=_scale(c.pal.ground_top, 0.75))


def _motif_interior(c: Canvas) -> None:
    # back wall with beams, a window showing the sky outside, lamps, floorboards
    beam = _scale(c.pal.far, 0.9)
    for _ in range(c.ri(2, 4)):
        x, bw = c.ri(0, c.w), round(c.w * 0.018)
        c.draw.rectangle([x - bw, 0, x + bw, c.horizon], fill=beam)
    c.draw.rectangle([0, 0, c.w, round(c.h * 0.05)], fill=beam)
    wx, ww, wh = c.ri(c.w * 0.15, c.w * 0.65), round(c.w * 0.16), round(c.h * 0.24)
    wy = round(c.h * 0.16)
    outside = (22, 30, 60) if "night" in c.moods else (150, 180, 200)
    frame = _scale(c.pal.far, 0.8)
    c.draw.rectangle([wx - SS * 6, wy - SS * 6, wx + ww + SS * 6, wy + wh + SS * 6], fill=frame)
    c.draw.rectangle([wx, wy, wx + ww, wy + wh], fill=outside)
    c.draw.rectangle([wx + ww // 2 - SS * 3, wy, wx + ww // 2 + SS * 3, wy + wh], fill=frame)
    c.draw.rectangle([wx, wy + wh // 2 - SS * 3, wx + ww, wy + wh // 2 + SS * 3], fill=frame)
    for _ in range(c.ri(2, 3)):
        lx, ly = c.ri(c.w * 0.05, c.w * 0.95), c.ri(c.h * 0.25, c.horizon - c.h * 0.08)
        _glow(c, lx, ly, round(c.h * 0.2), c.pal.accent, rings=10, alpha=16)
        r = round(c.h * 0.012)
        c.draw.ellipse([lx - r, ly - r, lx + r, ly + r], fill=(255, 236, 190))
    c.draw.rectangle([0, c.horizon - SS * 4, c.w, c.horizon + SS * 2], fill=_scale(c.pal.far, 0.7))
    for i in range(1, 12):
        y = c.horizon + (c.h - c.horizon) * i * i // 144  # closer together towards the back wall
        c.draw.line([(0, y), (c.w, y)], fill=(*_scale(c.pal.ground_bottom, 0.7), 120), width=SS)
    # a table's silhouette
    tx, tw = c.ri(c.w * 0.55, c.w * 0.85), round(c.w * 0.14)
    ty = c.horizon + round((c.h - c.horizon) * 0.35)
    c.draw.rectangle([tx - tw, ty, tx + tw, ty + SS * 10], fill=c.pal.near)
    for lx in (tx - tw + SS * 8, tx + tw - SS * 16):
        c.draw.rectangle([lx, ty, lx + SS * 8, ty + round(c.h * 0.12)], fill=c.pal.near)


def _motif_desert(c: Canvas) -> None:
    for i in range(4):
        cx = c.ri(-c.w * 0.1, c.w * 1.1)
        rw, rh = c.ri(c.w * 0.3, c.w * 0.6), c.ri(c.h * 0.08, c.h * 0.16)
        top = c.horizon + round((c.h - c.horizon) * i / 4) - rh // 3
        shade = mix(c.pal.ground_top, c.pal.ground_bottom, i / 4)
        c.draw.ellipse([cx - rw, top, cx + rw, top + rh * 2], fill=shade)
        c.draw.arc([cx - rw, top, cx + rw, top + rh * 2], 200, 300, fill=(*c.pal.accent, 120), width=SS * 2)


def _motif_city(c: Canvas) -> None:
    for layer, (shade, hmin, hmax) in enumerate(((c.pal.far, 0.08, 0.22), (c.pal.near, 0.12, 0.32))):
        x = -c.ri(0, c.w * 0.05)
        base = c.horizon + layer * round(c.h * 0.04)
        while x < c.w:
            bw, bh = c.ri(c.w * 0.04, c.w * 0.1), c.ri(c.h * hmin, c.h * hmax)
            c.draw.rectangle([x, base - bh, x + bw, base], fill=shade)
            if c.rng.random() < 0.4:
                c.draw.polygon([(x, base - bh), (x + bw // 2, base - bh - bw // 3), (x + bw, base - bh)], fill=shade)
            if layer == 1:
                win = max(SS * 3, bw // 10)
                for wy in range(base - bh + win * 2, base - win * 2, win * 3):
                    for wx in range(x + win, x + bw - win * 2, win * 3):
                        if c.rng.random() < (0.55 if "night" in c.moods or "dusk" in c.moods else 0.15):
                            c.draw.rectangle([wx, wy, wx + win, wy + win], fill=c.pal.accent)
            x += bw + c.ri(0, c.w * 0.01)


def _motif_land(c: Canvas) -> None:
    _ridge(c, c.horizon - round(c.h * 0.08), round(c.h * 0.14), c.pal.far, 9)
    _ridge(c, c.horizon, round(c.h * 0.06), mix(c.pal.far, c.pal.ground_top, 0.5), 7)
    for _ in range(c.ri(5, 9)):
        x, y = c.ri(0, c.w), c.ri(c.horizon + c.h * 0.05, c.h)
        rw, rh = c.ri(c.w * 0.02, c.w * 0.06), c.ri(c.h * 0.01, c.h * 0.03)
        c.draw.ellipse([x - rw, y - rh, x + rw, y + rh], fill=(*c.pal.near, 160))


MOTIFS: dict[str, Callable[[Canvas], None]] = {
    "interior": _motif_interior, "cave": _motif_cave, "sea": _motif_sea, "forest": _motif_forest,
    "desert": _motif_desert, "city": _motif_city, "mountain": _motif_land, "plain": _motif_land,
}  # fmt: skip


def _fog_bands(c: Canvas) -> None:
    for _ in range(c.ri(4, 7)):
        y, hh = c.ri(c.horizon - c.h * 0.1, c.h * 0.9), c.ri(c.h * 0.03, c.h * 0.08)
        c.draw.ellipse([-c.w // 4, y - hh, c.w + c.w // 4, y + hh], fill=(200, 204, 208, 40))


def _rain(c: Canvas) -> None:
    for _ in range(c.ri(140, 220)):
        x, y, ln = c.ri(-c.w * 0.1, c.w), c.ri(0, c.h), c.ri(c.h * 0.02, c.h * 0.05)
        c.draw.line([(x, y), (x + ln // 4, y + ln)], fill=(200, 206, 214, 60), width=SS)


def _check_size(what: str, width: int, height: int, minimum: int = 32) -> None:
    if width < minimum or height < minimum:
        raise ValueError(f"{what}: size {width}x{height} is too small (at least {minimum}x{minimum})")


SHORE = 0.56  # a sea backdrop's near shore covers this much of the bottom edge, on one side
PLANK_WORDS = {"pier", "dock", "docks", "quay", "wharf", "jetty", "marina", "boardwalk"}


def _shore_side(asset_id: str, description: str) -> int:
    """0: the near shore is on the left, 1: on the right (from a sha256, so background_floor can say it too)."""
    return _digest("shore", asset_id, description)[0] % 2


def background_floor(asset_id: str, name: str, description: str, vocab: Vocabulary | None = None) -> tuple[float, float]:
    """The stretch of generate_background's bottom edge people can stand on (fractions of its width): a sea
    backdrop's near shore or jetty, all of it elsewhere."""
    if _pick_theme(name, description, vocab or vocabulary()).name != "sea":
        return (0.0, 1.0)
    return (0.0, SHORE - 0.04) if _shore_side(asset_id, description) == 0 else (1 - SHORE + 0.04, 1.0)


def _near_shore(c: Canvas, side: int) -> None:
    """Where people stand by the sea: a plank jetty if the words say pier or dock, else a rocky shore, across
    SHORE of the bottom edge."""
    edge, reach = (0, round(c.w * SHORE)) if side == 0 else (c.w, round(c.w * (1 - SHORE)))
    top = round(c.h * 0.84)
    toe = reach + (c.w // 20 if side == 0 else -c.w // 20)
    ground = mix(c.pal.near, c.pal.ground_bottom, 0.3)
    if PLANK_WORDS & c.words:
        wood = mix((120, 90, 60), c.pal.near, 0.35)
        c.draw.polygon([(edge, top), (reach, top), (toe, c.h), (edge, c.h)], fill=wood)
        for i in range(1, 6):  # boards, closer together towards the back
            y = top + (c.h - top) * i * i // 36
            c.draw.line([(edge, y), (reach + (toe - reach) * (y - top) // (c.h - top), y)],
                        fill=(*_scale(wood, 0.7), 255), width=SS * 2)
        for k in range(3):  # posts
            px = reach + (edge - reach) * k // 3
            c.draw.rectangle([px - SS * 6, top - round(c.h * 0.05), px + SS * 6, top + SS * 4], fill=_scale(wood, 0.6))
    else:
        pts = [(edge, top - round(c.h * 0.04))]
        for i in range(1, 7):
            x = edge + (reach - edge) * i // 7
            pts.append((x, top + c.ri(-c.h * 0.03, c.h * 0.02)))
        pts += [(reach, top + round(c.h * 0.03)), (toe, c.h), (edge, c.h)]
        c.draw.polygon(pts, fill=ground)
        for _ in range(c.ri(3, 6)):  # a few boulders
            x = c.ri(min(edge, reach), max(edge, reach))
            r = c.ri(c.h * 0.02, c.h * 0.05)
            c.draw.ellipse([x - r * 2, top - r // 2, x + r * 2, top + r], fill=_scale(ground, 0.8))


def generate_background(asset_id: str, name: str, description: str, width: int = 1920, height: int = 1080,
                        vocab: Vocabulary | None = None) -> bytes:
    """An opaque RGB PNG backdrop drawn from the description's words, with `name` as a small caption (lower left).
    `vocab`: the setting vocabulary (default: settings.yaml), which decides what kind of place it is."""
    _check_size("background", width, height)
    words = _words(description, name)
    theme = _pick_theme(name, description, vocab or vocabulary())
    moods = _moods(words)
    pal = _apply_moods(theme.palette, moods, theme.interior)  # interiors and caves have no sky to grade
    rng = _rng("background", asset_id, description)
    w, h = width * SS, height * SS
    horizon = round(h * (0.56 + 0.1 * rng.random())) if not theme.interior else round(h * (0.62 + 0.06 * rng.random()))
    rows = np.concatenate([_gradient_rows(horizon, pal.sky_top, pal.sky_bottom),
                           _gradient_rows(h - horizon, pal.ground_top, pal.ground_bottom)])  # fmt: skip
    image = Image.fromarray(np.ascontiguousarray(np.broadcast_to(rows[:, None, :], (h, w, 3))))
    canvas = Canvas(image, ImageDraw.Draw(image, "RGBA"), rng, pal, horizon, moods, set(words))
    if not theme.interior:
        _sky_features(canvas)
        # the horizon line: a thin light seam where sky meets ground
        canvas.draw.rectangle([0, horizon - SS, w, horizon + SS], fill=(*mix(pal.sky_bottom, (255, 255, 255), 0.4), 90))
    MOTIFS.get(theme.name, _motif_land)(canvas)
    if theme.name == "sea":
        _near_shore(canvas, _shore_side(asset_id, description))
    if "fog" in moods:
        _fog_bands(canvas)
    if "storm" in moods and ({"rain", "rainy", "storm", "stormy"} & set(words)) and not theme.interior:
        _rain(canvas)
    out = _vignette(image.reduce(SS))
    # Inset CAPTION_INSET from the corner: render_shot crops backgrounds for its framings (up to 1/1.18 of the
    # still for medium shots), so the caption is either whole (establishing to medium) or cropped away (close-ups).
    _label(out, name or asset_id, anchor="bottom-left", size=max(8, round(height / 40)), max_width=width * 4 // 10,
           margin=(round(width * CAPTION_INSET), round(height * CAPTION_INSET)), fg=(236, 236, 232), bg=(12, 14, 18),
           alpha=150)  # fmt: skip
    return png_bytes(out)


# ---- RGBA plates ---------------------------------------------------------------------------------------------------


class Plate:
    """A supersampled RGBA drawing: a colour layer and a coverage mask, halved with Image.reduce and merged."""

    def __init__(self, width: int, height: int, base: RGB):
        self.w, self.h = width * SS, height * SS
        self.colour = Image.new("RGB", (self.w, self.h), base)
        self.mask = Image.new("L", (self.w, self.h), 0)
        self.cd = ImageDraw.Draw(self.colour, "RGBA")
        self.md = ImageDraw.Draw(self.mask)

    def shape(self, kind: str, xy, fill: RGB, **kw) -> None:
        """Draw a shape that is part of the silhouette (colour and mask)."""
        getattr(self.cd, kind)(xy, fill=fill, **kw)
        getattr(self.md, kind)(xy, fill=255, **kw)

    def detail(self, kind: str, xy, fill, **kw) -> None:
        """Draw on the colour only (inside the silhouette: it does not change the outline)."""
        getattr(self.cd, kind)(xy, fill=fill, **kw)

    def image(self) -> Image.Image:
        out = self.colour.reduce(SS).convert("RGBA")
        out.putalpha(self.mask.reduce(SS))
        return out


def _p(w: int, h: int, *pts: tuple[float, float]) -> list[tuple[int, int]]:
    """Fractions of the plate → integer pixel points."""
    return [(round(x * w), round(y * h)) for x, y in pts]


def _box(w: int, h: int, x0: float, y0: float, x1: float, y1: float) -> list[int]:
    return [round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)]


def generate_character_plate(asset_id: str, name: str, description: str, height: int = 1200) -> bytes:
    """An RGBA PNG (about 1:2, transparent around the figure): a stylised standing figure with a face, tinted by the
    description's colour words (first: coat, second: trousers; "<colour> hair" tints the hair; "bearded" a beard)."""
    width = max(16, (height // 2) // 2 * 2)
    _check_size("character plate", width, height)
    words = _words(description)
    clothes, hair = _colour_words(words)
    rng = _rng("character", asset_id, description)
    digest = _digest("character", asset_id, name, description)
    coat = clothes[0] if clothes else _hsv(digest[1] / 256, 0.45, 0.55)
    legs = clothes[1] if len(clothes) > 1 else mix(_scale(coat, 0.45), (40, 40, 46), 0.5)
    skin = SKIN_TONES[digest[2] % len(SKIN_TONES)]
    if hair is None and {"old", "elderly", "aged", "grizzled"} & set(words):
        hair = (170, 168, 164)
    hair = hair if hair is not None else NATURAL_HAIR[digest[3] % len(NATURAL_HAIR)]
    bald = hair == (0, 0, 0)

    pl = Plate(width, height, coat)
    w, h = pl.w, pl.h
    P = lambda *pts: _p(w, h, *pts)  # noqa: E731
    B = lambda *c: _box(w, h, *c)  # noqa: E731
    build = 0.02 * (rng.random() - 0.5)  # a little broader or slimmer
    sh = 0.30 + build  # shoulder half-width (fraction of width)
    dark_coat, boots = _scale(coat, 0.7), _scale(legs, 0.55)

    # legs and boots
    pl.shape("polygon", P((0.5 - 0.19, 0.58), (0.5 - 0.17, 0.87), (0.5 - 0.03, 0.87), (0.5 - 0.01, 0.6)), legs)
    pl.shape("polygon", P((0.5 + 0.19, 0.58), (0.5 + 0.17, 0.87), (0.5 + 0.03, 0.87), (0.5 + 0.01, 0.6)), legs)
    pl.shape("rounded_rectangle", B(0.5 - 0.20, 0.855, 0.5 - 0.01, 0.895), boots, radius=round(0.015 * h))
    pl.shape("rounded_rectangle", B(0.5 + 0.01, 0.855, 0.5 + 0.20, 0.895), boots, radius=round(0.015 * h))
    # arms (behind the coat), hands
    for s in (-1, 1):
        pl.shape("polygon", P((0.5 + s * (sh - 0.02), 0.255), (0.5 + s * (sh + 0.09), 0.54), (0.5 + s * (sh + 0.01),
                               0.555), (0.5 + s * (sh - 0.10), 0.33)), dark_coat)  # fmt: skip
        pl.shape("ellipse", B(0.5 + s * (sh + 0.05) - 0.045, 0.535, 0.5 + s * (sh + 0.05) + 0.045, 0.585), skin)
    # coat: shoulders, body, flared hem
    pl.shape("polygon", P((0.5 - sh, 0.27), (0.5 - sh + 0.06, 0.245), (0.5 + sh - 0.06, 0.245), (0.5 + sh, 0.27),
                          (0.5 + 0.22, 0.50), (0.5 + 0.26, 0.64), (0.5 - 0.26, 0.64), (0.5 - 0.22, 0.50)), coat)
    pl.shape("ellipse", B(0.5 - sh - 0.01, 0.245, 0.5 - sh + 0.11, 0.31), coat)
    pl.shape("ellipse", B(0.5 + sh - 0.11, 0.245, 0.5 + sh + 0.01, 0.31), coat)
    # collar opening, buttons, belt
    shirt = mix(coat, (236, 232, 222), 0.65)
    pl.detail("polygon", P((0.5 - 0.07, 0.245), (0.5 + 0.07, 0.245), (0.5, 0.34)), shirt)
    pl.detail("line", P((0.5, 0.34), (0.5, 0.64)), (*_scale(coat, 0.55), 255), width=max(SS, w // 150))
    for y in (0.38, 0.44, 0.50):
        pl.detail("ellipse", B(0.5 + 0.02, y, 0.5 + 0.045, y + 0.0125), (*_scale(coat, 0.5), 255))
    pl.detail("rectangle", B(0.5 - 0.22, 0.485, 0.5 + 0.22, 0.505), (*_scale(legs, 0.5), 255))
    # neck, head, hair
    pl.shape("rectangle", B(0.5 - 0.05, 0.19, 0.5 + 0.05, 0.255), _scale(skin, 0.88))
    if not bald:
        pl.shape("ellipse", B(0.5 - 0.135, 0.055, 0.5 + 0.135, 0.19), hair)
    pl.shape("ellipse", B(0.5 - 0.115, 0.075, 0.5 + 0.115, 0.215), skin)
    if not bald:  # fringe over the forehead
        pl.shape("chord", B(0.5 - 0.125, 0.06, 0.5 + 0.125, 0.17), hair, start=180, end=360)
    # the face: a beard if the words say so, brows, eyes and a closed mouth where character_face says they are
    face = _face_geometry(width, height)
    if BEARD & set(words) and not bald:
        pl.detail("chord", B(0.5 - 0.112, 0.13, 0.5 + 0.112, 0.228), (*hair, 255), start=0, end=180)
    brow = (*_scale(hair if not bald else skin, 0.55), 255)
    for ex, ey in face["eyes"]:
        r = face["eye_r"]
        pl.detail("line", [(SS * (ex - 2 * r), SS * (ey - 2 * r)), (SS * (ex + 2 * r), SS * (ey - 2 * r - 1))], brow,
                  width=max(SS, SS * r // 2))
        pl.detail("ellipse", [SS * (ex - r), SS * (ey - r), SS * (ex + r), SS * (ey + r)], (30, 26, 30, 255))
    mx, my, mw = *face["mouth"], face["mouth_w"]
    pl.detail("line", [(SS * (mx - mw // 2), SS * my), (SS * (mx + mw // 2), SS * my)], (92, 44, 40, 255),
              width=max(SS, SS * mw // 12))
    # light from the left: shade the right third (colour only, so the outline is unchanged)
    pl.detail("rectangle", [round(w * 0.56), 0, w, h], (0, 0, 0, 34))

    # no name on the plate: the renderer shows a readable name tag where the character first appears
    return png_bytes(pl.image())


BEARD = {"beard", "bearded"}


def _face_geometry(width: int, height: int) -> dict:
    """Eyes, eye radius, mouth and mouth width of a generated character plate, in its pixels."""
    cx, eye_y = width // 2, round(0.138 * height)
    dx, r = round(0.05 * width), max(2, round(0.0055 * height))
    return {"eyes": [[cx - dx, eye_y], [cx + dx, eye_y]], "eye_r": r, "mouth": [cx, round(0.182 * height)],
            "mouth_w": max(4, round(0.06 * width)), "brows": [[cx - dx, eye_y - 2 * r], [cx + dx, eye_y - 2 * r]]}


def character_face(asset_id: str, name: str, description: str, height: int = 1200) -> dict:
    """The face rig (schemas.FaceRig fields) of generate_character_plate's figure for the same inputs."""
    width = max(16, (height // 2) // 2 * 2)
    words = _words(description)
    digest = _digest("character", asset_id, name, description)
    skin = SKIN_TONES[digest[2] % len(SKIN_TONES)]
    _, hair = _colour_words(words)
    if hair is None and {"old", "elderly", "aged", "grizzled"} & set(words):
        hair = (170, 168, 164)
    hair = hair if hair is not None else NATURAL_HAIR[digest[3] % len(NATURAL_HAIR)]
    brow = _scale(hair if hair != (0, 0, 0) else skin, 0.55)
    rig = {**_face_geometry(width, height), "skin": "#{:02x}{:02x}{:02x}".format(*skin),
           "brow_colour": "#{:02x}{:02x}{:02x}".format(*brow)}
    if BEARD & set(words) and hair != (0, 0, 0):
        rig["mouth_bg"] = "#{:02x}{:02x}{:02x}".format(*hair)
    return rig


PROP_SHAPES: list[tuple[str, frozenset[str]]] = [
    ("lamp", frozenset("lamp lantern lanterns lamps candle torch".split())),
    ("book", frozenset("book books journal diary ledger letter letters map note notes scroll page pages logbook "
                       "chart".split())),
    ("key", frozenset("key keys".split())),
    ("bottle", frozenset("bottle bottles vial potion flask jar jug".split())),
    ("blade", frozenset("sword knife dagger blade axe spear".split())),
    ("chest", frozenset("chest box crate case trunk coffer casket".split())),
    ("coin", frozenset("coin coins ring medallion amulet pendant locket compass watch clock".split())),
]


def _prop_colour(words: list[str], digest: bytes) -> RGB:
    for word in words:
        if word in COLOUR_WORDS and word not in ("dark", "pale"):
            return COLOUR_WORDS[word]
        if word in MATERIAL_WORDS:
            return MATERIAL_WORDS[word]
    return _hsv(digest[1] / 256, 0.5, 0.7)


def generate_prop_plate(asset_id: str, name: str, description: str, size: int = 600) -> bytes:
    """An RGBA PNG (size × size, transparent around the shape): a simple shape for the prop, `name` below it."""
    _check_size("prop plate", size, size)
    words = _words(name, description)
    digest = _digest("prop", asset_id, name, description)
    colour = _prop_colour(words, digest)
    shape = next((s for s, keys in PROP_SHAPES if keys & set(words)), ("orb", "gem")[digest[0] % 2])
    pl = Plate(size, size, colour)
    w, h = pl.w, pl.h
    P = lambda *pts: _p(w, h, *pts)  # noqa: E731
    B = lambda *c: _box(w, h, *c)  # noqa: E731
    dark, light = _scale(colour, 0.6), mix(colour, (255, 255, 255), 0.45)
    if shape == "lamp":
        pl.shape("rectangle", B(0.47, 0.08, 0.53, 0.16), dark)
        pl.shape("ellipse", B(0.40, 0.04, 0.60, 0.12), dark)
        pl.shape("polygon", P((0.30, 0.22), (0.70, 0.22), (0.62, 0.16), (0.38, 0.16)), dark)
        pl.shape("rectangle", B(0.33, 0.22, 0.67, 0.66), colour)
        pl.detail("rectangle", B(0.38, 0.26, 0.62, 0.62), (255, 214, 130, 255))
        pl.detail("ellipse", B(0.44, 0.36, 0.56, 0.56), (255, 244, 200, 255))
        pl.shape("rectangle", B(0.28, 0.66, 0.72, 0.72), dark)
    elif shape == "book":
        pl.shape("rounded_rectangle", B(0.22, 0.12, 0.78, 0.74), colour, radius=round(0.02 * w))
        pl.detail("rectangle", B(0.22, 0.12, 0.30, 0.74), (*dark, 255))
        pl.detail("rectangle", B(0.36, 0.24, 0.70, 0.30), (*light, 255))
        pl.detail("rectangle", B(0.36, 0.34, 0.62, 0.37), (*light, 255))
    elif shape == "key":
        pl.shape("ellipse", B(0.18, 0.28, 0.44, 0.54), colour)
        pl.detail("ellipse", B(0.25, 0.35, 0.37, 0.47), (0, 0, 0, 255))
        pl.md.ellipse(B(0.25, 0.35, 0.37, 0.47), fill=0)
        pl.shape("rectangle", B(0.42, 0.38, 0.84, 0.44), colour)
        pl.shape("rectangle", B(0.72, 0.44, 0.76, 0.54), colour)
        pl.shape("rectangle", B(0.80, 0.44, 0.84, 0.50), colour)
    elif shape == "bottle":
        pl.shape("rectangle", B(0.44, 0.06, 0.56, 0.12), dark)
        pl.shape("rectangle", B(0.45, 0.12, 0.55, 0.28), colour)
        pl.shape("ellipse", B(0.28, 0.24, 0.72, 0.74), colour)
        pl.detail("ellipse", B(0.36, 0.32, 0.46, 0.50), (*light, 200))
    elif shape == "blade":
        pl.shape("polygon", P((0.47, 0.50), (0.53, 0.50), (0.53, 0.12), (0.50, 0.04), (0.47, 0.12)),
                 mix(colour, (200, 204, 210), 0.6))  # fmt: skip
        pl.shape("rectangle", B(0.36, 0.50, 0.64, 0.54), dark)
        pl.shape("rectangle", B(0.475, 0.54, 0.525, 0.70), colour)
        pl.shape("ellipse", B(0.46, 0.69, 0.54, 0.75), dark)
    elif shape == "chest":
        pl.shape("rectangle", B(0.16, 0.36, 0.84, 0.72), colour)
        pl.shape("pieslice", B(0.16, 0.18, 0.84, 0.54), colour, start=180, end=360)
        pl.detail("rectangle", B(0.16, 0.34, 0.84, 0.38), (*dark, 255))
        for x in (0.24, 0.72):
            pl.detail("rectangle", B(x, 0.18, x + 0.04, 0.72), (*dark, 255))
        pl.detail("rectangle", B(0.46, 0.38, 0.54, 0.48), (*light, 255))
    elif shape == "coin":
        pl.shape("ellipse", B(0.22, 0.10, 0.78, 0.66), colour)
        pl.detail("ellipse", B(0.30, 0.18, 0.70, 0.58), (*dark, 255))
        pl.detail("ellipse", B(0.33, 0.21, 0.67, 0.55), (*colour, 255))
        pl.detail("ellipse", B(0.40, 0.26, 0.50, 0.34), (*light, 160))
    elif shape == "gem":
        pl.shape("polygon", P((0.50, 0.08), (0.76, 0.30), (0.50, 0.72), (0.24, 0.30)), colour)
        pl.detail("polygon", P((0.50, 0.08), (0.60, 0.30), (0.50, 0.72), (0.40, 0.30)), (*light, 120))
        pl.detail("line", P((0.24, 0.30), (0.76, 0.30)), (*dark, 255), width=max(SS, w // 200))
    else:  # orb
        pl.shape("ellipse", B(0.22, 0.10, 0.78, 0.66), colour)
        pl.detail("ellipse", B(0.32, 0.18, 0.50, 0.34), (*light, 150))
        pl.detail("pieslice", B(0.22, 0.10, 0.78, 0.66), (0, 0, 0, 50), start=0, end=140)
    plate = pl.image()
    _label(plate, name or asset_id, anchor="bottom-center", size=max(8, round(size / 16)), max_width=size * 9 // 10,
           margin=max(2, round(size / 40)), fg=(240, 240, 236), bg=(18, 20, 24), alpha=200)  # fmt: skip
    return png_bytes(plate)


# ---- title cards ---------------------------------------------------------------------------------------------------


def generate_title_card(title: str, subtitle: str = "", width: int = 1920, height: int = 1080) -> bytes:
    """An opaque title (or location) card: `title` large, `subtitle` below, centred and wrapped, on a dark gradient
    tinted by a hue from the title."""
    _check_size("title card", width, height)
    hue = _hue("title", title)
    style = CardStyle(
        bg_top=_hsv(hue, 0.40, 0.22), bg_bottom=_hsv(hue + 0.03, 0.45, 0.07), heading=(244, 238, 224),
        body=(204, 206, 210), accent=_hsv(hue + 0.5, 0.45, 0.80),
    )  # fmt: skip
    image = text_card(width, height, title, [subtitle] if subtitle.strip() else [], style=style, heading_scale=1 / 9,
                      body_scale=1 / 22)  # fmt: skip
    return png_bytes(_vignette(image, strength=60))


# ---- dispatch ------------------------------------------------------------------------------------------------------

DRAWABLE_KINDS = ("background", "character", "prop", "title", "card")


def generate(kind: str, asset_id: str, name: str, description: str,
             vocab: Vocabulary | None = None) -> tuple[bytes, str]:
    """(PNG bytes, "image/png") for an asset of `kind`. ValueError for kinds this fallback cannot draw (music, sfx):
    the resolver then tries its next source. `vocab`: the setting vocabulary (default: settings.yaml)."""
    if kind == "background":
        return generate_background(asset_id, name, description, vocab=vocab), MEDIA_TYPE
    if kind == "character":
        return generate_character_plate(asset_id, name, description), MEDIA_TYPE
    if kind == "prop":
        return generate_prop_plate(asset_id, name, description), MEDIA_TYPE
    if kind in ("title", "card"):
        return generate_title_card(name or asset_id, description), MEDIA_TYPE
    raise ValueError(
        f"local generative fallback cannot draw assets of kind {kind!r} (asset {asset_id!r}); "
        f"it draws {', '.join(DRAWABLE_KINDS)}"
    )


__all__ = [
    "GENERATOR_VERSION",
    "MEDIA_TYPE",
    "generate",
    "generate_background",
    "background_floor",
    "character_face",
    "generate_character_plate",
    "generate_prop_plate",
    "generate_title_card",
]
