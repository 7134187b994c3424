"""Text cards drawn with Pillow (credits, titles) and the end card clip that joins the shot clips by stream copy.

credits_card_png(title, lines, width, height) -> PNG bytes         an opaque card: heading, then the wrapped lines
render_card(png_path, seconds, plan, out_path) -> frames             a still as a video-only clip, encoded exactly
                                                                     like render_shot's, so concat_clips accepts it
render_end_card(title, lines, seconds, plan, out_path) -> frames     both in one call

Determinism: text is laid out with the bundled DejaVu Sans and Pillow's BASIC layout (FreeType only, never the
system's raqm/HarfBuzz), every coordinate is an integer, and PNGs are written without metadata at a fixed
compression level. The text helpers here (load_font, wrap_text, fit_text, text_card, png_bytes) are shared with
engines.media.generate.
"""

from __future__ import annotations

import functools
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from schemas.artifacts import RenderPlan

from .captions import shot_frames
from .ffmpeg import FONT_FILE, GLOBAL_FLAGS, RenderError, run_ffmpeg_into, video_encode_flags
from .shots import GraphBuilder

PNG_COMPRESS_LEVEL = 6
ELLIPSIS = "\u2026"

RGB = tuple[int, int, int]


# ---- text layout ---------------------------------------------------------------------------------------------------


@functools.cache
def load_font(size: int) -> ImageFont.FreeTypeFont:
    """The bundled DejaVu Sans at `size` px, laid out by FreeType alone (BASIC layout: same glyphs on every machine)."""
    return ImageFont.truetype(str(FONT_FILE), size=max(1, int(size)), layout_engine=ImageFont.Layout.BASIC)


def line_height(font: ImageFont.FreeTypeFont, spacing: float = 1.2) -> int:
    ascent, descent = font.getmetrics()
    return max(1, round((ascent + descent) * spacing))


def text_width(font: ImageFont.FreeTypeFont, text: str) -> float:
    return font.getlength(text)


def _split_word(word: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """A word wider than max_width in pieces that fit (at least one character each), broken after a / - _ . ? & =
    where one of those is in the piece (URLs and paths), else between any two characters."""
    pieces, cur = [], ""
    for ch in word:
        if cur and text_width(font, cur + ch) > max_width:
            cut = max(cur.rfind(c) for c in "/-_.?&=") + 1
            if 0 < cut < len(cur):
                pieces.append(cur[:cut])
                cur = cur[cut:] + ch
            else:
                pieces.append(cur)
                cur = ch
            while len(cur) > 1 and text_width(font, cur) > max_width:  # the carried tail plus ch may not fit yet
                pieces.append(cur[:-1])
                cur = cur[-1]
        else:
            cur += ch
    if cur:
        pieces.append(cur)
    return pieces


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Greedy word wrap to max_width pixels; words wider than a line (URLs) are broken between characters."""
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        cur = ""
        for word in paragraph.split():
            trial = f"{cur} {word}" if cur else word
            if text_width(font, trial) <= max_width:
                cur = trial
                continue
            if cur:
                lines.append(cur)
            if text_width(font, word) <= max_width:
                cur = word
            else:
                *full, cur = _split_word(word, font, max_width)
                lines.extend(full)
        if cur:
            lines.append(cur)
    return lines


def ellipsize(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    """text, cut and ended with an ellipsis if it is wider than max_width."""
    if text_width(font, text) <= max_width:
        return text
    while text and text_width(font, text + ELLIPSIS) > max_width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


@dataclass(frozen=True)
class TextBlock:
    font: ImageFont.FreeTypeFont
    lines: list[str]
    line_h: int

    @property
    def height(self) -> int:
        return self.line_h * len(self.lines)


def fit_text(
    text: str,
    max_width: int,
    max_height: int,
    size: int,
    min_size: int,
    *,
    max_lines: int | None = None,
    spacing: float = 1.2,
) -> TextBlock:
    """Wrap `text` at the largest size from `size` down to `min_size` whose lines fit max_width × max_height (and
    max_lines). If even min_size does not fit, the lines that fit are kept and the last one ends in an ellipsis."""
    size = max(1, int(size))
    min_size = max(1, min(int(min_size), size))
    while True:
        font = load_font(size)
        lines = wrap_text(text, font, max_width)
        lh = line_height(font, spacing)
        if len(lines) * lh <= max_height and (max_lines is None or len(lines) <= max_lines):
            return TextBlock(font, lines, lh)
        if size <= min_size:
            break
        size = max(min_size, size - max(1, size // 12))
    keep = max(1, min(max_height // lh, max_lines or len(lines)))
    if keep < len(lines):
        lines = [*lines[: keep - 1], ellipsize(lines[keep - 1] + " " + lines[keep], font, max_width)]
    return TextBlock(font, lines[:keep], lh)


def draw_lines(
    draw: ImageDraw.ImageDraw, block: TextBlock, top: int, fill, *, left: int, width: int, align: str = "center"
) -> int:
    """Draw block's lines from y=top inside [left, left+width); returns the y below the last line."""
    y = top
    for line in block.lines:
        w = text_width(block.font, line)
        x = left + (round((width - w) / 2) if align == "center" else 0)
        draw.text((max(left, x), y), line, font=block.font, fill=fill)
        y += block.line_h
    return y


# ---- images --------------------------------------------------------------------------------------------------------


def png_bytes(image: Image.Image) -> bytes:
    """PNG bytes with no metadata (no text chunks, times, dpi or gamma), at a fixed compression level."""
    image = image.copy()
    image.info = {}
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def mix(a: Sequence[int], b: Sequence[int], t: float) -> RGB:
    """a → b by t (0..1), rounded per channel."""
    return tuple(max(0, min(255, round(x + (y - x) * t))) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def vertical_gradient(image: Image.Image, box: tuple[int, int, int, int], top: Sequence[int], bottom: Sequence[int]):
    """Fill box (x0, y0, x1, y1; x1/y1 exclusive) of an RGB image with a top → bottom gradient, row by row."""
    x0, y0, x1, y1 = box
    draw = ImageDraw.Draw(image)
    span = max(1, y1 - y0 - 1)
    for y in range(y0, y1):
        k = y - y0
        colour = tuple((a * (span - k) + b * k) // span for a, b in zip(top, bottom, strict=True))
        draw.line([(x0, y), (x1 - 1, y)], fill=colour)


@dataclass(frozen=True)
class CardStyle:
    bg_top: RGB = (30, 36, 46)
    bg_bottom: RGB = (12, 14, 20)
    heading: RGB = (240, 232, 214)
    body: RGB = (196, 200, 206)
    accent: RGB = (196, 150, 84)


def text_card(
    width: int,
    height: int,
    heading: str,
    lines: Sequence[str],
    *,
    style: CardStyle | None = None,
    heading_scale: float = 1 / 12,
    body_scale: float = 1 / 26,
    min_body_scale: float = 1 / 90,
) -> Image.Image:
    """An opaque RGB card: `heading` (wrapped, at most 3 lines), an accent rule, then `lines` as separate entries,
    centred as one block. Fonts shrink until everything fits inside a 6 % margin; what still does not is cut with an
    ellipsis, so no text ever leaves the card."""
    if width < 16 or height < 16:
        raise ValueError(f"card size {width}x{height} is too small to draw text on")
    style = style or CardStyle()
    image = Image.new("RGB", (width, height), style.bg_bottom)
    vertical_gradient(image, (0, 0, width, height), style.bg_top, style.bg_bottom)
    draw = ImageDraw.Draw(image)
    margin_x, margin_y = round(width * 0.08), round(height * 0.07)
    inner_w, inner_h = width - 2 * margin_x, height - 2 * margin_y
    entries = [" ".join(str(line).split()) for line in lines if str(line).strip()]
    heading = " ".join(heading.split())

    head = None
    head_h = 0
    if heading:
        head_size = max(6, round(height * heading_scale))
        cap = inner_h if not entries else inner_h // 3
        head = fit_text(heading, inner_w, cap, head_size, max(6, head_size // 3), max_lines=3, spacing=1.15)
        head_h = head.height
    rule_gap = max(4, round(height * 0.03)) if head and entries else 0

    body_blocks: list[TextBlock] = []
    gap = 0
    if entries:
        room = inner_h - head_h - 2 * rule_gap
        size = max(6, round(height * body_scale))
        min_size = max(6, min(size, round(height * min_body_scale)))
        body_blocks, gap = _fit_entries(entries, inner_w, room, size, min_size)

    body_h = sum(b.height for b in body_blocks) + gap * max(0, len(body_blocks) - 1)
    total = head_h + 2 * rule_gap + body_h
    y = margin_y + max(0, (inner_h - total) // 2)
    if head is not None:
        y = draw_lines(draw, head, y, style.heading, left=margin_x, width=inner_w)
    if rule_gap:
        rule_y = y + rule_gap // 2
        half = max(8, round(inner_w * 0.08))
        thick = max(1, round(height / 360))
        draw.rectangle([width // 2 - half, rule_y, width // 2 + half - 1, rule_y + thick - 1], fill=style.accent)
        y += 2 * rule_gap
    for block in body_blocks:
        y = draw_lines(draw, block, y, style.body, left=margin_x, width=inner_w) + gap
    return image


def _fit_entries(
    entries: list[str], max_width: int, max_height: int, size: int, min_size: int
) -> tuple[list[TextBlock], int]:
    """Separate entries (one per credit), each wrapped, at the largest common size that fits max_height."""
    while True:
        font = load_font(size)
        lh = line_height(font)
        gap = lh // 2
        blocks = [TextBlock(font, wrap_text(e, font, max_width) or [""], lh) for e in entries]
        total = sum(b.height for b in blocks) + gap * (len(blocks) - 1)
        if total <= max_height:
            return blocks, gap
        if size <= min_size:
            break
        size = max(min_size, size - max(1, size // 12))
    # still too tall at the smallest size: keep the lines that fit, the last one ellipsized
    kept: list[TextBlock] = []
    y = 0
    for block in blocks:
        room_lines = (max_height - y) // lh
        if room_lines <= 0:
            break
        if room_lines < len(block.lines):
            cut = [*block.lines[: room_lines - 1], ellipsize(" ".join(block.lines[room_lines - 1 :]), font, max_width)]
            kept.append(TextBlock(font, cut, lh))
            break
        kept.append(block)
        y += block.height + gap
    if len(kept) < len(blocks) and kept and kept[-1].lines[-1][-1:] != ELLIPSIS:
        last = kept[-1]
        kept[-1] = TextBlock(font, [*last.lines[:-1], ellipsize(last.lines[-1] + " " + ELLIPSIS, font, max_width)], lh)
    return kept, gap


def credits_card_png(title: str, lines: list[str], width: int, height: int) -> bytes:
    """The end card: `title` (e.g. "Credits") over `lines` (one credit each, wrapped to fit), as opaque PNG bytes."""
    return png_bytes(text_card(width, height, title, lines))


# ---- clips ---------------------------------------------------------------------------------------------------------


def render_card(png_path: Path, seconds: float, plan: RenderPlan, out_path: Path) -> int:
    """Encode a still as a video-only MP4 of shot_frames(seconds, plan.fps) frames at plan.width×plan.height.

    The still goes through render_shot's path (one frame converted to BT.709 limited-range yuv420p, then looped, time
    base 1/fps) and the same encoder flags, so its H.264 configuration matches the shot clips and concat_clips joins
    them by stream copy. A still of another size is fitted inside the frame (letterboxed in black). out_path is
    written atomically. Returns the number of frames.
    """
    W, H, fps = plan.width, plan.height, plan.fps
    if W % 2 or H % 2:
        raise RenderError("render card", f"plan size {W}x{H}: yuv420p needs an even width and height")
    png_path = Path(png_path)
    if not png_path.is_file():
        raise RenderError("render card", f"card image {png_path} does not exist")
    frames = shot_frames(seconds, fps)
    out_path = Path(out_path).resolve()
    with tempfile.TemporaryDirectory(prefix="naos-card-") as tmp:
        workdir = Path(tmp)
        gb = GraphBuilder(workdir, fps)
        src = gb.add_image(png_path, "card")
        gb.chains.append(
            f"{src}format=rgb24,scale=w={W}:h={H}:force_original_aspect_ratio=decrease:flags=lanczos,"
            f"pad=w={W}:h={H}:x=(ow-iw)/2:y=(oh-ih)/2:color=black,setsar=1,"
            f"scale=out_color_matrix=bt709:out_range=tv:flags=bicubic+accurate_rnd+full_chroma_int,"
            f"format=yuv420p,loop=loop={frames - 1}:size=1,settb=1/{fps},setpts=N[v]"
        )
        args = [
            "-y", *GLOBAL_FLAGS, *gb.inputs,
            "-filter_complex", ";".join(gb.chains),
            "-map", "[v]", "-frames:v", str(frames),
            *video_encode_flags(plan.encoder, plan.fps),
            "-an", "-f", "mp4",
        ]  # fmt: skip
        run_ffmpeg_into(out_path, args, "render card", cwd=workdir)
    return frames


def render_end_card(title: str, lines: list[str], seconds: float, plan: RenderPlan, out_path: Path) -> int:
    """credits_card_png at the plan's size, encoded by render_card. Returns the number of frames."""
    with tempfile.TemporaryDirectory(prefix="naos-endcard-") as tmp:
        png = Path(tmp) / "end_card.png"
        png.write_bytes(credits_card_png(title, lines, plan.width, plan.height))
        return render_card(png, seconds, plan, out_path)
