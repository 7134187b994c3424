"""A tiny valid season for load tests: `write_season(folder)` -> folder/project.yaml.

Episodes s01e01..s01eNN of one scene each (two or three short beats, a different text per episode so no two
episodes share artifacts), one tiny render profile (320x180, 12 fps, no burned-in captions) under the name the
commands default to, every human checkpoint off, and a copy of the pilot's asset library (under 1 MB; a copy keeps
the season self-contained, since links out of a library are refused).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

PILOT_LIBRARY = Path(__file__).resolve().parents[1] / "examples" / "pilot" / "library"
ARC = "the-quiet-season"
# (location, speaker, listener): alternate places and who speaks first, so scenes and voices vary
SETTINGS = [("harbor", "mara", "ines"), ("lighthouse", "ines", "mara"), ("inn", "mara", "ines")]
WEATHER = ["fog", "rain", "wind", "sun", "a squall", "hail", "a calm", "snow"]


def tiny_project(episodes: int) -> dict:
    return {
        "schema_version": "1.1.0", "id": "tiny", "title": "The Quiet Season", "genre": "coastal drama",
        "visual_style": "flat painted shapes",
        # a tiny episode runs a few seconds: the runtime gate should pass, not flag every episode
        "target_duration_s": {"min": 1, "max": 60},
        # the profile `naos render`/`naos backfill` use by default (profile names are a fixed set)
        "render_profiles": {"preview_local": {"width": 320, "height": 180, "fps": 12, "burn_in_captions": False,
                                              "speaker_labels": False}},
        "continuity_mode": "standard",
        "cost_policy": {"max_budget_usd": 0, "local_cpu_hour_usd": 0.05},
        "human_checkpoints": {"approve_canon_diff": False, "approve_character_packs": False,
                              "approve_shotlist_timing_lock": False, "approve_external_spend": False},
        "safety_mode": "standard",
        "audio": {"narration": False, "loudness_lufs": -16, "true_peak_db": -1, "music_bed": "music/sea_theme.wav"},
        "characters": [
            {"id": "mara", "name": "Mara Quill", "age": 34, "status": "alive", "location": "harbor",
             "voice": {"voice": "en-gb-x-gbclan+f3", "pitch": 62, "rate": 170}},
            {"id": "ines", "name": "Ines Calder", "age": 41, "status": "alive", "location": "inn",
             "voice": {"voice": "en-gb-x-rp+f2", "pitch": 70, "rate": 165}}],
        "locations": [{"id": "harbor", "name": "Gull Point Harbour", "description": "A small stone harbour."},
                      {"id": "lighthouse", "name": "Gull Point Lighthouse", "description": "A red-and-white tower."},
                      {"id": "inn", "name": "The Drowned Bell", "description": "The harbour inn."}],
        "asset_library": "library",
        "episodes": [{"id": episode_id(n), "outline": f"episodes/{episode_id(n)}.yaml"} for n in range(1, episodes + 1)],
        "story_year": 1898,
        "story_arc": "arc.yaml",
    }


def episode_id(n: int) -> str:
    return f"s01e{n:02d}"


def outline(n: int) -> dict:
    location, speaker, listener = SETTINGS[n % len(SETTINGS)]
    weather = WEATHER[n % len(WEATHER)]
    beats = [{"action": f"Day {n}: {weather} over Gull Point."},
             {"speaker": speaker, "line": f"Day {n}, and still {weather}.", "emotion": "calm"}]
    if n % 2:  # odd episodes get a third beat: two or three beats, as real episodes vary
        beats.append({"speaker": listener, "line": f"It will pass by day {n + 1}.", "emotion": "hopeful"})
    return {"schema_version": "1.1.0", "episode_number": n, "arc_reference": ARC, "title": f"Day {n}",
            "summary": f"Day {n} of the quiet season: {weather} at the {location}.",
            "scenes": [{"id": "sc01", "location": location, "time": f"day {n}, noon",
                        "characters": [speaker, listener], "beats": beats}]}


def arc(episodes: int) -> dict:
    return {"schema_version": "1.0.0", "title": "The Quiet Season", "premise": "Nothing happens, twenty times.",
            "arcs": [{"id": ARC, "title": "The Quiet Season", "beats": [
                {"episode": episode_id(n), "summary": f"Day {n} passes.", "location": SETTINGS[n % 3][0],
                 "time": f"day {n}, noon", "characters": ["mara", "ines"], "events": [f"Day {n} passes."]}
                for n in range(1, episodes + 1)]}]}


def write_season(folder: Path, episodes: int = 20) -> Path:
    """A tiny project of `episodes` one-scene episodes in `folder` (created); returns its project.yaml."""
    if not 1 <= episodes <= 99:
        raise ValueError(f"episodes: {episodes} (1..99: ids are s01e01..s01e99)")
    folder = Path(folder)
    (folder / "episodes").mkdir(parents=True, exist_ok=True)
    shutil.copytree(PILOT_LIBRARY, folder / "library", dirs_exist_ok=True)

    def dump(path: Path, data: dict) -> None:
        path.write_text(yaml.safe_dump(data, sort_keys=False, width=120))

    dump(folder / "arc.yaml", arc(episodes))
    for n in range(1, episodes + 1):
        dump(folder / "episodes" / f"{episode_id(n)}.yaml", outline(n))
    dump(folder / "project.yaml", tiny_project(episodes))
    return folder / "project.yaml"
