"""engines.media.generate: the local generative fallback draws deterministic, plausible stills (real Pillow)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from engines.media.generate import (
    GENERATOR_VERSION,
    generate,
    generate_background,
    generate_character_plate,
    generate_prop_plate,
    generate_title_card,
)

ROOT = Path(__file__).resolve().parent.parent
W, H = 320, 180  # small backgrounds keep the suite fast; the drawing is resolution independent
LONG = "The Extraordinarily Long-Named Harbour Master's Lodging House and Smokery " * 5
URLISH = "https://example.org/" + "very-long-path-segment/" * 20


def img(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def mean(im: Image.Image) -> list[float]:
    return ImageStat.Stat(im.convert("RGB")).mean


def png_chunks(data: bytes) -> list[str]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, names = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        names.append(data[pos + 4 : pos + 8].decode("ascii"))
        pos += 12 + length
    return names


def bg(description: str, asset_id: str = "background:test", name: str = "Test place", **kw) -> bytes:
    return generate_background(asset_id, name, description, width=kw.pop("width", W), height=kw.pop("height", H))


# ---- determinism ---------------------------------------------------------------------------------------------------


def test_version_is_named():
    assert GENERATOR_VERSION.startswith("naos-generate@")


@pytest.mark.parametrize(
    "make",
    [
        lambda: bg("A small fishing harbor at dusk, boats at anchor, a lighthouse"),
        lambda: bg("A dark sea cave at night"),
        lambda: bg("A foggy pine forest in the morning, rain"),
        lambda: generate_character_plate("character:mara", "Mara", "harbor pilot in a teal coat", height=300),
        lambda: generate_prop_plate("prop:lamp", "Lamp", "a brass lantern", size=160),
        lambda: generate_title_card("The Lights Go Out", "Episode 1", width=W, height=H),
    ],
    ids=["harbor", "cave", "forest", "character", "prop", "title"],
)
def test_same_inputs_give_the_same_bytes(make):
    first, second = make(), make()
    assert first == second
    assert png_chunks(first) == ["IHDR", *["IDAT"] * (len(png_chunks(first)) - 2), "IEND"]  # no metadata chunks


SUBPROCESS = """
import hashlib, json
from engines.media.generate import generate, generate_background
out = {
    "bg": hashlib.sha256(generate_background("background:harbor", "Harbor", "harbor at dusk, storm", 320, 180)).hexdigest(),
    "char": hashlib.sha256(generate("character", "character:mara", "Mara", "teal coat, red hair")[0]).hexdigest(),
}
print(json.dumps(out))
"""


def test_bytes_do_not_depend_on_the_process_or_hash_seed():
    """Another interpreter with other string hashing (set/dict order) draws the same bytes."""
    here = {
        "bg": hashlib.sha256(generate_background("background:harbor", "Harbor", "harbor at dusk, storm", 320, 180))
        .hexdigest(),
        "char": hashlib.sha256(generate("character", "character:mara", "Mara", "teal coat, red hair")[0]).hexdigest(),
    }
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", SUBPROCESS], cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == here


# ---- backgrounds ---------------------------------------------------------------------------------------------------


def test_background_size_and_mode():
    im = img(generate_background("background:harbor", "Harbor", "a harbor"))
    assert (im.size, im.mode) == ((1920, 1080), "RGB")
    im = img(bg("a harbor", width=640, height=360))
    assert (im.size, im.mode) == ((640, 360), "RGB")


def test_palettes_follow_the_description():
    sea = mean(img(bg("The open sea off the harbor at noon")))
    cave = mean(img(bg("A dark cave deep underground")))
    inn = mean(img(bg("A tavern lit by lamps")))
    forest = mean(img(bg("An old pine forest")))
    desert = mean(img(bg("Sand dunes in the desert")))
    assert sum(abs(a - b) for a, b in zip(sea, cave, strict=True)) > 120  # measurably different images
    assert sea[2] > sea[0] + 30 and sea[2] > 100  # blue-teal
    assert max(cave) < 50  # dark
    assert inn[0] > inn[2] + 25  # warm amber
    assert forest[1] > forest[0] + 15  # green
    assert desert[0] > desert[2] + 20 and sum(desert) / 3 > 120  # bright ochre


def test_moods_grade_the_palette():
    day = mean(img(bg("a harbor")))
    night = mean(img(bg("a harbor at night")))
    assert sum(night) < sum(day) * 0.6
    storm = img(bg("hills under a storm"))
    r, g, b = mean(storm)
    assert max(r, g, b) - min(r, g, b) < 25  # greyish


def test_words_without_a_theme_fall_back_to_a_hash_hue():
    a = mean(img(bg("a quiet place")))
    b = mean(img(bg("somewhere else entirely")))
    assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) > 20


def test_asset_id_seeds_the_shapes_not_the_palette():
    a = img(bg("a harbor at dusk", asset_id="background:one"))
    b = img(bg("a harbor at dusk", asset_id="background:two"))
    assert a.tobytes() != b.tobytes()
    assert sum(abs(x - y) for x, y in zip(mean(a), mean(b), strict=True)) < 40


def test_background_caption_stays_in_the_lower_left_corner():
    plain = img(bg("a harbor", name=""))
    for name in ("Harbor", LONG, URLISH):
        named = img(bg("a harbor", name=name))
        assert named.size == (W, H)
        box = ImageChops.difference(plain, named).getbbox()
        # name "" captions the asset id instead, so the two differ only inside the caption box
        assert box is not None
        x0, y0, x1, y1 = box
        # inset from the corner, so render_shot's framing crops (<= 1/1.18 for medium shots) keep it whole
        assert x0 >= W * 0.08 and y0 >= H // 2 and x1 <= W // 2 and y1 <= H * 0.92, box


# ---- plates --------------------------------------------------------------------------------------------------------


def test_character_plate_is_a_transparent_cutout():
    im = img(generate_character_plate("character:mara", "Mara", "a teal coat"))
    assert (im.size, im.mode) == ((600, 1200), "RGBA")
    small = img(generate_character_plate("character:mara", "Mara", "a teal coat", height=400))
    assert (small.size, small.mode) == ((200, 400), "RGBA")
    w, h = small.size
    alpha = small.getchannel("A")
    for corner in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        assert alpha.getpixel(corner) == 0
    assert alpha.getpixel((w // 2, h * 2 // 5)) == 255  # the torso
    assert alpha.getpixel((w // 2, h // 8)) == 255  # the head
    assert 0.15 < sum(alpha.histogram()[129:]) / (w * h) < 0.6  # a figure, not a filled card


def test_character_colour_words_tint_the_figure():
    def torso(description: str) -> tuple[int, ...]:
        im = img(generate_character_plate("character:x", "X", description, height=400))
        return im.getpixel((im.width * 2 // 5, im.height * 2 // 5))[:3]

    teal, red, grey = torso("in a teal coat"), torso("wears a red cloak"), torso("grey wool coat")
    assert teal[1] > teal[0] + 50 and teal[2] > teal[0] + 50
    assert red[0] > red[1] + 80 and red[0] > red[2] + 80
    assert max(grey) - min(grey) < 20
    assert torso("") == torso("")  # a hash colour when no word names one
    assert torso("no colours here") != torso("none mentioned at all")


def test_prop_plate_is_a_transparent_shape():
    for description in ("a brass lantern", "a leather journal", "an iron key", "a green vial", "a steel sword",
                        "a wooden chest", "a gold coin", "something odd", "something else"):  # fmt: skip
        im = img(generate_prop_plate("prop:x", "Thing", description, size=200))
        assert (im.size, im.mode) == ((200, 200), "RGBA")
        alpha = im.getchannel("A")
        assert all(alpha.getpixel(c) == 0 for c in ((0, 0), (199, 0), (0, 199), (199, 199))), description
        assert alpha.crop((60, 20, 140, 140)).getextrema()[1] == 255, description
    assert img(generate_prop_plate("prop:x", "Thing", "a box")).size == (600, 600)


@pytest.mark.parametrize("name", [LONG, URLISH, "", "Ωμέγα 名前 ✓"])
def test_long_or_odd_names_stay_inside_the_plates(name):
    char = img(generate_character_plate("character:long", name, "a black coat", height=300))
    prop = img(generate_prop_plate("prop:long", name, "a lamp", size=120))
    assert char.size == (150, 300) and prop.size == (120, 120)
    for im in (char, prop):
        alpha = im.getchannel("A")
        # the label is clamped inside a margin: the outermost columns and the last row stay transparent
        assert alpha.crop((0, 0, 1, im.height)).getextrema()[1] == 0
        assert alpha.crop((im.width - 1, 0, im.width, im.height)).getextrema()[1] == 0
        assert alpha.crop((0, im.height - 1, im.width, im.height)).getextrema()[1] == 0


# ---- title cards ---------------------------------------------------------------------------------------------------


def test_title_card():
    im = img(generate_title_card("The Lights Go Out", "The harbor, at dusk"))
    assert (im.size, im.mode) == ((1920, 1080), "RGB")
    assert generate_title_card("A") != generate_title_card("B")


def bright_in_margins(im: Image.Image, mx: float, my: float) -> int:
    """The brightest pixel of the bands (mx of the width, my of the height) along the edges of a dark card."""
    grey = im.convert("L")
    w, h = grey.size
    bands = [(0, 0, round(w * mx), h), (w - round(w * mx), 0, w, h), (0, 0, w, round(h * my)),
             (0, h - round(h * my), w, h)]  # fmt: skip
    return max(grey.crop(b).getextrema()[1] for b in bands)


@pytest.mark.parametrize("title", [LONG, URLISH * 3, "Short"])
def test_long_titles_are_wrapped_inside_the_margins(title):
    card = img(generate_title_card(title, LONG, width=W, height=H))
    assert card.size == (W, H)
    # the card is dark (value <= 0.22) and the text light: no text pixel reaches the outer bands
    assert bright_in_margins(card, 0.06, 0.05) < 90
    assert card.convert("L").getextrema()[1] > 180  # and the text is there


# ---- dispatch ------------------------------------------------------------------------------------------------------


def test_generate_dispatches_by_kind():
    data, media_type = generate("background", "background:harbor", "Harbor", "a harbor")
    assert media_type == "image/png"
    assert data == generate_background("background:harbor", "Harbor", "a harbor")
    assert generate("character", "character:mara", "Mara", "teal")[0] == generate_character_plate(
        "character:mara", "Mara", "teal"
    )
    assert generate("prop", "prop:lamp", "Lamp", "brass")[0] == generate_prop_plate("prop:lamp", "Lamp", "brass")
    for kind in ("title", "card"):
        data, media_type = generate(kind, "title:ep01", "Episode 1", "The harbor")
        assert data == generate_title_card("Episode 1", "The harbor") and media_type == "image/png"


@pytest.mark.parametrize("kind", ["music", "sfx", "video", ""])
def test_kinds_it_cannot_draw_raise_value_error(kind):
    with pytest.raises(ValueError, match=f"kind {kind!r}"):
        generate(kind, f"{kind}:x", "X", "anything")
