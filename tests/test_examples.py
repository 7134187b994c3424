"""examples/pilot: the project and its outlines validate and agree, and its asset library is reproducible."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml
from PIL import Image

from engines.media import resolve
from schemas import AssetManifest, AssetNeed, DialogueBeat, EpisodeOutline, Project, load_yaml_model

ROOT = Path(__file__).resolve().parent.parent
PILOT = ROOT / "examples" / "pilot"
SCRIPT = ROOT / "scripts" / "make_example_assets.py"
MISSING_ON_PURPOSE = "sea_cave"


@pytest.fixture(scope="module")
def project() -> Project:
    return load_yaml_model(PILOT / "project.yaml", Project)


@pytest.fixture(scope="module")
def outlines(project: Project) -> dict[str, EpisodeOutline]:
    return {ep.id: load_yaml_model(PILOT / ep.outline, EpisodeOutline) for ep in project.episodes}


@pytest.fixture(scope="module")
def assets_script():
    spec = importlib.util.spec_from_file_location("make_example_assets", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def background_path(loc) -> str:
    return loc.background or f"backgrounds/{loc.id}.png"


def portrait_path(ch) -> str:
    return ch.portrait or f"characters/{ch.id}.png"


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---- project and outlines ----------------------------------------------------------------------


def test_project_validates(project: Project):
    assert project.schema_version == "1.1.0"
    assert project.id == "pilot"
    assert (project.target_duration_s.min, project.target_duration_s.max) == (30, 90)
    prof = project.render_profiles["preview_local"]
    assert (prof.width, prof.height, prof.fps, prof.burn_in_captions) == (1280, 720, 24, True)
    assert project.continuity_mode == "standard" and project.safety_mode == "standard"
    assert project.cost_policy.max_budget_usd == 0 and project.cost_policy.local_cpu_hour_usd == 0.05
    assert project.human_checkpoints.model_dump() == {
        "approve_canon_diff": False,
        "approve_character_packs": False,
        "approve_shotlist_timing_lock": False,
        "approve_external_spend": False,
    }, "the demo must run unattended"
    assert len(project.characters) >= 3 and len(project.locations) >= 3
    assert all(c.status == "alive" and c.location for c in project.characters)
    assert project.world.secrets and project.world.rules and project.props
    ids = [f"s01e{n:02d}" for n in range(1, 7)]
    assert [e.id for e in project.episodes] == ids, "a season of six episodes"
    assert [e.outline for e in project.episodes] == [f"episodes/{i}.yaml" for i in ids]
    assert project.story_arc == "arc.yaml" and project.story_year == 1898
    assert (PILOT / project.asset_library).is_dir()


def test_outlines_validate_and_are_sized_for_a_short_episode(outlines: dict[str, EpisodeOutline]):
    for number, (eid, outline) in enumerate(outlines.items(), start=1):
        assert outline.episode_number == number, eid
        assert 2 <= len(outline.scenes) <= 3, eid
        assert 5 <= sum(len(s.beats) for s in outline.scenes) <= 11, eid
        assert [s.id for s in outline.scenes] == [f"sc{i:02d}" for i in range(1, len(outline.scenes) + 1)], eid
        assert outline.new_facts, eid
        for scene in outline.scenes:
            for beat in scene.beats:
                if isinstance(beat, DialogueBeat):
                    assert 5 <= len(beat.line.split()) <= 15, (eid, scene.id, beat.line)


def test_speakers_characters_and_locations_all_exist(project: Project, outlines: dict[str, EpisodeOutline]):
    characters = {c.id for c in project.characters}
    locations = {loc.id for loc in project.locations}
    for eid, outline in outlines.items():
        for scene in outline.scenes:
            where = f"{eid} {scene.id}"
            assert scene.location in locations, where
            assert scene.characters, where
            assert set(scene.characters) <= characters, where
            for beat in scene.beats:
                if isinstance(beat, DialogueBeat):
                    assert beat.speaker in scene.characters, f"{where}: {beat.speaker} speaks but is not in the scene"


# ---- the asset library -------------------------------------------------------------------------


def test_asset_script_is_deterministic_and_matches_the_committed_library(assets_script, tmp_path: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert assets_script.main(["--out", str(a)]) == 0
    assert assets_script.main(["--out", str(b)]) == 0
    first, second = files_under(a), files_under(b)
    assert first and first == second
    committed = files_under(PILOT / "library")
    assert sorted(committed) == sorted(first)
    changed = [name for name in first if committed[name] != first[name]]
    assert not changed, f"re-run scripts/make_example_assets.py and commit: {changed}"


def test_exactly_the_intended_location_lacks_a_background(project: Project, outlines: dict[str, EpisodeOutline]):
    library = PILOT / project.asset_library
    missing = [loc.id for loc in project.locations if not (library / background_path(loc)).is_file()]
    assert missing == [MISSING_ON_PURPOSE]
    used = {s.location for o in outlines.values() for s in o.scenes}
    assert MISSING_ON_PURPOSE in used, "the placeholder location must appear in an episode"
    for ch in project.characters:
        assert (library / portrait_path(ch)).is_file(), ch.id


def test_library_images_and_sidecars(project: Project):
    library = PILOT / project.asset_library
    images = sorted(library.rglob("*.png"))
    assert len(images) == len(project.locations) - 1 + len(project.characters)
    for img_path in images:
        with Image.open(img_path) as img:
            if img_path.parent.name == "backgrounds":
                assert (img.size, img.mode) == ((1280, 720), "RGB"), img_path.name
            else:
                assert img.mode == "RGBA" and img.size == (400, 600), img_path.name
                assert img.getpixel((0, 0))[3] == 0, "character backgrounds are transparent"
                assert img.getpixel((200, 300))[3] == 255, "the figure is opaque"
        meta = yaml.safe_load(img_path.with_name(img_path.name + ".meta.yaml").read_text(encoding="utf-8"))
        assert meta["license_type"] == "generated_local"
        assert meta["attribution"] == ""
        assert meta["provider_or_model"] == "naos scripts/make_example_assets.py"
        assert meta["redistributable"] is True
        assert meta["description"]
    total = sum(p.stat().st_size for p in library.rglob("*") if p.is_file())
    assert total < 1_000_000, f"library is {total} bytes; keep the committed example small"


def test_pilot_library_resolves_with_one_flagged_placeholder(project: Project, outlines: dict[str, EpisodeOutline]):
    library = PILOT / project.asset_library
    for eid, outline in outlines.items():
        locations = list(dict.fromkeys(s.location for s in outline.scenes))
        characters = list(dict.fromkeys(c for s in outline.scenes for c in s.characters))
        manifest = AssetManifest.new(
            episode_id=eid,
            timing_lock_hash="0" * 64,
            backgrounds=[
                AssetNeed(
                    asset_id=f"background:{lid}", kind="background", library_path=background_path(project.location(lid))
                )
                for lid in locations
            ],
            character_packs=[
                AssetNeed(
                    asset_id=f"character:{cid}", kind="character", library_path=portrait_path(project.character(cid))
                )
                for cid in characters
            ],
        )
        resolved = resolve(manifest, library)
        flagged = [a.asset_id for a in resolved if a.flagged]
        expected = [f"background:{MISSING_ON_PURPOSE}"] if MISSING_ON_PURPOSE in locations else []
        assert flagged == expected, eid
        for asset in resolved:
            if not asset.flagged:
                assert asset.status == "resolved" and asset.license_type == "generated_local", asset.asset_id
