"""The setting vocabulary (engines/media/settings.yaml): kinds of place from a location's words, light from a
scene's time, and a project's own words."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from engines.media.generate import background_floor, generate_background
from engines.media.settings import TIMES, Vocabulary, kind_of, time_of_day, vocabulary


@pytest.mark.parametrize("time, light", [
    ("day 1, dusk", "dusk"), ("day 1, midnight", "night"), ("day 2, dawn", "dawn"), ("day 2, morning", "day"),
    ("day 3, evening", "dusk"), ("day 2, low tide", "day"), ("spring, a year later, dusk", "dusk"),
    ("late at night", "night"), ("first light", "dawn"), ("", "day"), ("Tuesday", "day"),
])
def test_a_scenes_time_gives_its_light(time, light):
    assert time_of_day(time) == light


@pytest.mark.parametrize("name, description, kind", [
    ("Pier 9 shed", "a tin shed at the end of the pier, nets drying", "interior"),  # the name's noun wins
    ("The Anchor", "a bar down by the docks", "interior"),  # a tie: interiors are listed first
    ("Gull Point Harbour", "a small stone harbour of fishing boats", "sea"),
    ("The North Cave", "a cave under the point; it floods at high tide", "cave"),
    ("Harbour Road", "a cobbled street of shops", "city"),  # road ×3 + street, against harbour ×3
    ("Nowhere", "somewhere vague", None),
])
def test_a_locations_words_give_its_kind(name, description, kind):
    assert kind_of(name, description) == kind


def test_every_listed_time_is_one_the_renderer_grades():
    assert set(vocabulary().times) == set(TIMES)


def test_a_project_extends_the_vocabulary():
    base = vocabulary()
    assert base.kind_of("The Greenhouse", "glass and ferns") is None
    more = base.extended({"kinds": {"interior": ["greenhouse"]}, "times": {"night": ["curfew"]}})
    assert more.kind_of("The Greenhouse", "glass and ferns") == "interior"
    assert more.time_of_day("day 4, after curfew") == "night" and base.time_of_day("after curfew") == "day"
    assert base.extended(None) is base and isinstance(more, Vocabulary)


def test_a_shed_is_drawn_indoors_and_a_harbour_has_somewhere_to_stand():
    shed = Image.open(io.BytesIO(generate_background("background:shed", "Pier 9 shed", "a tin shed on the pier, "
                                                     "night", width=320, height=180))).convert("RGB")
    # an interior: no sky gradient across the top, dark walls
    top = shed.crop((0, 0, 320, 40)).convert("L")
    assert top.getextrema()[1] < 200 and background_floor("background:shed", "Pier 9 shed", "a tin shed") == (0.0, 1.0)
    lo, hi = background_floor("background:harbor", "Harbour", "a stone harbour with a pier")
    assert hi - lo == pytest.approx(0.52) and (lo == 0.0 or hi == 1.0)
    harbour = Image.open(io.BytesIO(generate_background("background:harbor", "Harbour", "a stone harbour with a pier",
                                                        width=320, height=180))).convert("RGB")
    # the bottom edge under the floor is jetty (brownish), the rest is water (blue)
    x_floor, x_sea = round((lo + hi) / 2 * 319), round((1 - (lo + hi) / 2) * 319)
    r, g, b = harbour.getpixel((x_floor, 176))
    r2, g2, b2 = harbour.getpixel((x_sea, 176))
    assert r > b and b2 > r2, ((r, g, b), (r2, g2, b2))


@pytest.mark.parametrize("action, pose", [
    ("Tobias clutches his chest and sinks to the boards.", "lying"), ("The two men struggle and Tobias falls.", "lying"),
    ("Mara turns away from the window.", "turned_away"), ("Ines lifts the logbook.", None),
    ("Rosa counts the crates.", None),
])
def test_an_actions_words_give_its_pose(action, pose):
    assert vocabulary().pose_of(action) == pose


def test_a_project_adds_pose_words():
    more = vocabulary().extended({"poses": {"lying": ["keels over"]}})
    assert more.pose_of("Dev keels over.") == "lying" and vocabulary().pose_of("Dev keels over.") is None
