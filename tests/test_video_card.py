"""engines.video.card: the credits card (Pillow) and the end card clip that joins the shot clips by stream copy."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

import engines.video as video
from engines.media.generate import generate_background, generate_character_plate
from engines.video import (
    concat_clips,
    credits_card_png,
    probe,
    render_card,
    render_end_card,
    render_shot,
    run_ffmpeg,
    shot_frames,
)
from engines.video.ffmpeg import h264_config
from schemas.artifacts import RenderPlan, ResolvedAsset, Shot, ShotLine
from tests.test_generate import bright_in_margins

W, H, FPS = 320, 180, 24
CREDITS = [
    '"Harbor at dusk" by Jane Doe, CC-BY 4.0, https://example.org/photos/harbor-at-dusk-over-the-breakwater.jpg',
    "Voices: espeak-ng",
    "Backgrounds and characters: drawn by naos-generate@1",
]


def img(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---- the card image (no ffmpeg) ------------------------------------------------------------------------------------


def test_exported_from_the_engine():
    assert {"credits_card_png", "render_card", "render_end_card"} <= set(video.__all__)


def test_credits_card_is_an_opaque_deterministic_png():
    data = credits_card_png("Credits", CREDITS, 1280, 720)
    assert data == credits_card_png("Credits", CREDITS, 1280, 720)
    im = img(data)
    assert (im.size, im.mode) == ((1280, 720), "RGB")
    assert im.info == {}  # no metadata
    assert credits_card_png("Credits", [*CREDITS, "Music: none"], 1280, 720) != data


@pytest.mark.parametrize("n_lines", [0, 1, 12, 80])
def test_credits_text_stays_inside_the_card(n_lines):
    lines = [f'"Asset {i}" by Somebody Someone-Longname, CC-BY-SA 4.0, https://example.org/a/{i}/' + "x" * 60
             for i in range(n_lines)]  # fmt: skip
    for width, height in ((W, H), (1920, 1080)):
        im = img(credits_card_png("Credits and attributions for this episode", lines, width, height))
        assert im.size == (width, height)
        # dark card, light text: the margins hold no text
        assert bright_in_margins(im, 0.05, 0.04) < 80
        assert im.convert("L").getextrema()[1] > 180


def test_credits_font_shrinks_with_many_lines():
    def text_rows(lines: list[str]) -> int:
        grey = img(credits_card_png("", lines, 640, 360)).convert("L").point(lambda v: 255 if v > 120 else 0)
        return sum(1 for y in range(360) if grey.crop((0, y, 640, y + 1)).getextrema()[1])

    few, many = text_rows(["One credit"]), text_rows([f"Credit {i}" for i in range(30)])
    assert many > few  # more lines cover more rows ...
    one_line_height = text_rows(["Credit"])
    assert many < 30 * one_line_height  # ... at a smaller size than one line alone


# ---- clips (real ffmpeg) -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> dict[str, Path]:
    """A background and a character drawn by the generative fallback."""
    d = tmp_path_factory.mktemp("gen")
    bg = d / "harbor.png"
    bg.write_bytes(generate_background("background:harbor", "Harbor", "a harbor at dusk", width=640, height=360))
    ch = d / "mara.png"
    ch.write_bytes(generate_character_plate("character:mara", "Mara", "a teal coat", height=400))
    return {"background:harbor": bg, "character:mara": ch}


def make_plan(assets: dict[str, Path]) -> RenderPlan:
    entries = [
        ResolvedAsset(asset_id=asset_id, kind=asset_id.split(":")[0], status="resolved",
                      uri=f"library:{path.name}", sha256=sha(path))
        for asset_id, path in assets.items()
    ]  # fmt: skip
    return RenderPlan.new(
        episode_id="ep01", width=W, height=H, fps=FPS, timing_lock_hash="t" * 64, assets=entries,
    )  # fmt: skip


def make_shot(movement: str = "static") -> Shot:
    return Shot(
        id="sh01", scene_id="sc01", index=0, template="dialogue", duration_s=1.0, framing="medium",
        movement=movement, characters=["mara"], environment="harbor",
        lines=[ShotLine(line_id="sh01_l0", speaker_id="mara", speaker_name="Mara", text="The lights are out.",
                        emotion="calm", start_s=0.2, end_s=0.8)],
    )  # fmt: skip


def frame_at(clip: Path, index: int, out: Path) -> Image.Image:
    run_ffmpeg(
        ["-y", "-i", f"file:{clip}", "-vf", f"select=eq(n\\,{index})", "-fps_mode", "passthrough",
         "-frames:v", "1", "-update", "1", str(out)],
        "extract frame",
    )  # fmt: skip
    with Image.open(out) as im:
        return im.convert("RGB")


@pytest.mark.slow
def test_end_card_clip_frames_size_and_determinism(tmp_path, assets):
    plan = make_plan(assets)
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    frames = render_end_card("Credits", CREDITS, 1.5, plan, a)
    assert frames == shot_frames(1.5, FPS) == 36
    assert render_end_card("Credits", CREDITS, 1.5, plan, b) == frames
    assert sha(a) == sha(b)
    info = probe(a)
    assert (info.frames, info.width, info.height, info.fps) == (frames, W, H, FPS)
    assert info.has_video and not info.has_audio
    assert abs(info.duration_s - 1.5) < 1e-6
    # the picture is the card: the last frame matches the PNG up to the YUV round trip
    card = img(credits_card_png("Credits", CREDITS, W, H))
    last = frame_at(a, frames - 1, tmp_path / "last.png")
    assert sum(ImageStat.Stat(ImageChops.difference(card, last)).mean) / 3 < 6
    assert not list(tmp_path.glob(".*.partial"))


@pytest.mark.slow
@pytest.mark.parametrize("movement", ["static", "push_in"])
def test_end_card_joins_shot_clips_by_stream_copy(tmp_path, assets, movement):
    plan = make_plan(assets)
    shot = tmp_path / "shot.mp4"
    card = tmp_path / "card.mp4"
    shot_n = render_shot(make_shot(movement), plan, assets, shot)
    card_n = render_end_card("Credits", CREDITS, 2.0, plan, card)
    assert h264_config(card) == h264_config(shot) is not None  # the check concat_clips makes
    episode = tmp_path / "episode.mp4"
    info = concat_clips([shot, card], episode, plan)
    assert info.frames == shot_n + card_n == 24 + 48
    assert abs(info.duration_s - (shot_n + card_n) / FPS) < 1e-6
    assert info.has_audio and abs(info.audio_duration_s - info.duration_s) < 0.05
    # card first works too (concat compares every clip with the first)
    assert concat_clips([card, shot, card], tmp_path / "sandwich.mp4", plan).frames == shot_n + 2 * card_n


@pytest.mark.slow
def test_render_card_fits_a_still_of_another_size(tmp_path, assets):
    plan = make_plan(assets)
    square = tmp_path / "square.png"
    Image.new("RGB", (101, 101), (200, 40, 40)).save(square)
    clip = tmp_path / "square.mp4"
    assert render_card(square, 0.5, plan, clip) == 12
    info = probe(clip)
    assert (info.width, info.height, info.frames) == (W, H, 12)
    frame = frame_at(clip, 0, tmp_path / "f.png")
    assert frame.getpixel((W // 2, H // 2))[0] > 150  # the red still, centred
    assert max(frame.getpixel((2, H // 2))) < 30  # letterboxed in black
    shot = tmp_path / "shot.mp4"
    render_shot(make_shot(), plan, assets, shot)
    assert concat_clips([shot, clip], tmp_path / "joined.mp4", plan).frames == 24 + 12


@pytest.mark.slow
def test_render_card_refuses_a_missing_still(tmp_path, assets):
    with pytest.raises(video.RenderError, match="does not exist"):
        render_card(tmp_path / "nope.png", 1.0, make_plan(assets), tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
