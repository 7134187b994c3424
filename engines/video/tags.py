"""Name tags (a character's name over their head on their first appearance in the episode: Shot.introduces), the
episode's title over its opening shot, and the dips through black between scenes.

Drawn once per shot with Pillow (the bundled DejaVu Sans, BASIC layout, integer coordinates: the same pixels on
every machine), overlaid on the still before the camera moves, so the tag stays with its character through a pan or
push-in; it fades in and out with ffmpeg's integer alpha fade.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .ffmpeg import FONT_FILE

CAP_HEIGHT = 0.034  # of the frame height: 24.5 px at 720p, 36.7 px at 1080p (DejaVu Sans caps are 0.729 em)
TAG_TOP = 0.64  # the tag's top edge, fraction of the frame height
SHOW_S = (0.4, 3.4)  # on screen from/to, seconds into the shot
FADE_S = 0.25
BOX = (14, 16, 22, 205)
TEXT = (246, 242, 232, 255)
ACCENT = (222, 176, 84, 255)


def font_size(height: int) -> int:
    """The font size whose capital letters are CAP_HEIGHT of the frame tall."""
    return max(10, round(height * CAP_HEIGHT / 0.729))


def draw_tag(name: str, height: int) -> Image.Image:
    """The tag as an RGBA image of even size: the name on a dark rounded box with an accent bar on its left."""
    font = ImageFont.truetype(str(FONT_FILE), size=font_size(height), layout_engine=ImageFont.Layout.BASIC)
    ascent, descent = font.getmetrics()
    pad_x, pad_y, bar = font.size * 2 // 3, font.size // 3, max(3, font.size // 8)
    w = round(font.getlength(name)) + 2 * pad_x + bar
    h = ascent + descent + 2 * pad_y
    w, h = w + w % 2, h + h % 2
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([0, 0, w - 1, h - 1], radius=max(3, h // 6), fill=BOX)
    d.rectangle([0, h // 6, bar - 1, h - 1 - h // 6], fill=ACCENT)
    d.text((bar + pad_x, pad_y), name, font=font, fill=TEXT)
    return img


def write_tag(workdir: Path, name: str, text: str, height: int) -> tuple[str, int, int]:
    """The tag PNG in workdir; returns (file name, width, height)."""
    img = draw_tag(text, height)
    file = f"{name}.png"
    img.save(workdir / file, format="PNG", compress_level=6)
    return file, img.width, img.height


def tag_fades(frames: int, fps: int, after: float = 0.0) -> str:
    """ffmpeg filters that fade the looped tag in at SHOW_S[0] (or `after`, when a title is on screen first) and out
    3 s later (or by the shot's end)."""
    end = min(after + SHOW_S[1], frames / fps - FADE_S)
    start = min(after + SHOW_S[0], max(0.0, end - 1.0))
    return (f"fade=t=in:st={start:.3f}:d={FADE_S}:alpha=1,"
            f"fade=t=out:st={max(start + FADE_S, end - FADE_S):.3f}:d={FADE_S}:alpha=1")


TITLE_S = (0.3, 3.0)  # the title over the opening shot: on screen from/to, seconds
DIP_S = 0.4  # a dip to black between scenes: this long out of the last shot, this long into the next


def draw_title(lines: list[str], width: int, height: int) -> Image.Image:
    """The episode's title over its opening shot: a small kicker ("Episode 1") above the title, centred on a soft dark
    band across the frame. RGBA, width × even height."""
    kicker_font = ImageFont.truetype(str(FONT_FILE), size=max(10, round(height * 0.036)),
                                     layout_engine=ImageFont.Layout.BASIC)
    title_font = ImageFont.truetype(str(FONT_FILE), size=max(14, round(height * 0.075)),
                                    layout_engine=ImageFont.Layout.BASIC)
    *kickers, title = lines if lines else [""]
    kicker = " · ".join(kickers).upper()
    while title_font.size > 14 and title_font.getlength(title) > width * 0.86:
        title_font = title_font.font_variant(size=title_font.size - 2)
    ka, kd = kicker_font.getmetrics()
    ta, td = title_font.getmetrics()
    gap, pad = height // 90, height // 30
    band = pad + (ka + kd + gap if kicker else 0) + ta + td + pad
    band += band % 2
    img = Image.new("RGBA", (width, band), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    for y in range(band):  # darkest in the middle, fading out at the band's edges (integer alpha)
        edge = min(y, band - 1 - y)
        d.line([(0, y), (width, y)], fill=(8, 10, 14, min(170, 170 * edge // max(1, pad))))
    y = pad
    if kicker:
        d.text(((width - round(kicker_font.getlength(kicker))) // 2, y), kicker, font=kicker_font, fill=ACCENT)
        y += ka + kd + gap
    d.text(((width - round(title_font.getlength(title))) // 2, y), title, font=title_font, fill=TEXT)
    return img


def title_fades(frames: int, fps: int) -> str:
    end = min(TITLE_S[1], frames / fps - FADE_S)
    start = min(TITLE_S[0], max(0.0, end - 1.0))
    return (f"fade=t=in:st={start:.3f}:d={FADE_S * 2}:alpha=1,"
            f"fade=t=out:st={max(start + FADE_S, end - FADE_S * 2):.3f}:d={FADE_S * 2}:alpha=1")


def dips(frames: int, fps: int, into: bool, out_of: bool) -> str:
    """fade filters for a dip up from black at a scene's start and down to black at its end ('' for neither)."""
    d = min(DIP_S, frames / fps / 4)
    parts = ([f"fade=t=in:st=0:d={d:.3f}"] if into else []) + \
        ([f"fade=t=out:st={frames / fps - d:.3f}:d={d:.3f}"] if out_of else [])
    return ",".join(parts)
