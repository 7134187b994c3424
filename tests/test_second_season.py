"""A second season written for the tests (tests/seasons/pier9: a shed on a pier, a bar at night, a cannery street,
pine woods; nothing in its library), rendered as a user would with `naos render`, then looked at as a viewer would:
speakers talk, every scene's background is the kind of place its location says, name tags are readable, pans glide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DRAFT_VOICES
from frames import crop_frames, mouth_checks, shots_and_starts

from engines.media.settings import kind_of

ROOT = Path(__file__).resolve().parents[1]
SEASON = ROOT / "tests" / "seasons" / "pier9"
W, H = 1280, 720
KINDS = {"pier9_shed": "interior", "anchor_bar": "interior", "cannery_row": "city", "ridge_woods": "forest"}


@pytest.fixture(scope="module", params=["s01e01", "s01e02"])
def episode(request, tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp(request.param)
    out, home = base / "out", base / "home"
    env = {**os.environ, **DRAFT_VOICES, "NAOS_HOME": str(home)}
    result = subprocess.run([sys.executable, "-m", "naos_assets.cli", "render", "--project", str(SEASON / "project.yaml"),
                             "--episode", request.param, "--out", str(out)], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, home


def test_speakers_talk(episode):
    out, home = episode
    checks = mouth_checks(out, SEASON / "library", home)
    assert checks, "a static dialogue shot to look at"
    for c in checks:
        assert c.before < 2.0 and c.during > 8.0, c


def test_every_scene_shows_the_kind_of_place_its_location_is(episode):
    """Interiors have walls where an exterior has sky: in the middle of every establishing shot, the top band of the
    frame is warm (wood, lamplight) indoors and blue (sky, by day or night) outdoors."""
    out, _ = episode
    shots, starts = shots_and_starts(out)
    plan = json.loads((out / "RenderPlan.json").read_text())
    sources = {a["asset_id"]: a["source"] for a in plan["assets"]}
    seen = 0
    for shot in shots:
        if shot.template != "establishing":
            continue
        assert sources[f"background:{shot.environment}"] == "generative_local"  # nothing in the library
        loc = next(loc for loc in _locations() if loc["id"] == shot.environment)
        assert kind_of(loc["name"], loc["description"]) == KINDS[shot.environment]
        middle = starts[shot.id] + round(shot.duration_s * 24 / 2)
        top = crop_frames(out / "episode.mp4", middle, 1, (0, 0, W, H // 8))[0].reshape(-1, 3).mean(axis=0)
        indoors = KINDS[shot.environment] in ("interior", "cave")
        assert (top[0] > top[2]) == indoors, (shot.id, shot.environment, top)
        seen += 1
    assert seen == len({s.scene_id for s in shots})


def _locations() -> list[dict]:
    import yaml

    return yaml.safe_load((SEASON / "project.yaml").read_text())["locations"]


def test_name_tags_are_readable(episode):
    """Where a shot introduces someone, white letters at least 24 px tall stand on the tag while it is shown and are
    gone by the shot's end."""
    out, _ = episode
    shots, starts = shots_and_starts(out)
    tagged = [s for s in shots if s.introduces]
    assert tagged
    for shot in tagged:
        after = 3.2 if shot.title else 0.0
        shown = crop_frames(out / "episode.mp4", starts[shot.id] + round((after + 1.5) * 24), 1, (0, 0, W, H))[0]
        last = crop_frames(out / "episode.mp4", starts[shot.id] + round(shot.duration_s * 24) - 2, 1, (0, 0, W, H))[0]
        letters = (shown.min(axis=2) > 225) & (last.min(axis=2) < 160)
        letters[int(H * 0.85):] = False  # not the burned-in captions
        rows = np.flatnonzero(letters.sum(axis=1) > 2)
        assert rows.size and rows[-1] - rows[0] + 1 >= 24, (shot.id, rows)


def test_pans_glide(episode):
    """Frame to frame, an establishing pan moves by smoothly changing sub-pixel steps (1-D Lucas–Kanade on the
    column profiles of the band between the title and the captions, which stay put), never backwards, never in
    jumps (measured: steps 0.9 → 1.6 → 1.0 px, easing in and out, consecutive steps within 0.1 px)."""
    out, _ = episode
    shots, starts = shots_and_starts(out)
    pans = [s for s in shots if s.movement in ("pan_left", "pan_right") and s.template == "establishing"]
    assert pans
    for shot in pans:
        n = round(shot.duration_s * 24)
        video = crop_frames(out / "episode.mp4", starts[shot.id] + 12, n - 24, (0, 400, W, 600)).mean(axis=3)
        steps = []
        for a, b in zip(video[:-1], video[1:], strict=True):
            pa, pb = a.mean(axis=0), b.mean(axis=0)
            g = np.gradient(pa)[16:-16]
            steps.append(float(np.sum(g * (pb - pa)[16:-16]) / np.sum(g * g)))
        steps = np.array(steps) * (1 if shot.movement == "pan_right" else -1)
        assert steps.min() > -0.15, (shot.id, np.round(steps, 2))
        assert np.abs(np.diff(steps)).max() < 0.3, (shot.id, np.round(steps, 2))
        assert steps.max() > 0.5  # it does move
