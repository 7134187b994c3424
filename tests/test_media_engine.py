"""engines.media: resolve an AssetManifest against the local asset library (seed 004 §9), paths and sidecars."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from engines.media import (
    AssetChangedError,
    AssetPathError,
    library_file,
    placeholders,
    resolve,
    resolve_need,
    verify,
)
from schemas import AssetManifest, AssetNeed

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"not really an image, just bytes to hash"
SIDECAR = (
    "license_type: generated_local\n"
    'attribution: ""\n'
    'provider_or_model: "naos scripts/make_example_assets.py"\n'
    "redistributable: true\n"
    "description: a harbour\n"
)


def need(asset_id: str, path: str, kind: str | None = None) -> AssetNeed:
    return AssetNeed(asset_id=asset_id, kind=kind or asset_id.split(":")[0], library_path=path, shots=["sh001"])


def manifest(*, backgrounds=(), characters=(), props=(), sfx=(), music=()) -> AssetManifest:
    return AssetManifest.new(
        episode_id="s01e01",
        timing_lock_hash="1" * 64,
        backgrounds=list(backgrounds),
        character_packs=list(characters),
        props=list(props),
        sfx=list(sfx),
        music=list(music),
    )


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "backgrounds").mkdir(parents=True)
    (root / "characters").mkdir()
    (root / "backgrounds" / "harbor.png").write_bytes(PNG_BYTES)
    (root / "backgrounds" / "harbor.png.meta.yaml").write_text(SIDECAR, encoding="utf-8")
    (root / "characters" / "mara.png").write_bytes(PNG_BYTES + b"mara")
    (root / "characters" / "mara.png.meta.yaml").write_text(SIDECAR.replace("a harbour", "Mara"), encoding="utf-8")
    return root


def test_present_asset_resolves_with_hash_and_sidecar_licence(library: Path):
    [bg] = resolve(manifest(backgrounds=[need("background:harbor", "backgrounds/harbor.png")]), library)
    assert bg.status == "resolved"
    assert bg.kind == "background"
    assert bg.uri == "library:backgrounds/harbor.png"
    assert bg.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
    assert bg.license_type == "generated_local"
    assert bg.provenance == bg.provider_or_model == "naos scripts/make_example_assets.py"
    assert (bg.attribution, bg.purchase_record, bg.retrieval_date, bg.redistributable) == ("", "", "", True)
    assert bg.source == "library"
    assert not bg.flagged and bg.reason == "" and bg.fallbacks == [] and bg.rejections == []


def test_attribution_goes_into_provenance(library: Path):
    (library / "backgrounds" / "harbor.png.meta.yaml").write_text(
        "license_type: cc-by-4.0\nattribution: Jo Painter\nprovider_or_model: photo archive\n", encoding="utf-8"
    )
    [bg] = resolve(manifest(backgrounds=[need("background:harbor", "backgrounds/harbor.png")]), library)
    assert bg.license_type == "cc-by-4.0"
    assert bg.attribution == "Jo Painter"
    assert bg.redistributable is True  # an open licence permits it
    assert bg.provenance == "photo archive; attribution: Jo Painter"


def test_asset_without_sidecar_is_rejected_and_the_rejection_recorded(library: Path):
    """§25.4: a missing licence is rejected at resolution; with no other source the need becomes a placeholder."""
    (library / "characters" / "tobias.png").write_bytes(PNG_BYTES + b"tobias")
    [ch] = resolve(manifest(characters=[need("character:tobias", "characters/tobias.png")]), library)
    assert (ch.status, ch.flagged) == ("placeholder", True)
    [rej] = ch.rejections
    assert (rej.source, rej.uri) == ("library", "library:characters/tobias.png")
    assert "no licence" in rej.reason and "characters/tobias.png" in rej.reason
    assert "rejected" in ch.reason


@pytest.mark.parametrize("sidecar, why", [
    ("- just\n- a list\n", "must be a mapping"),
    ("license_type: [unclosed\n", "not valid YAML"),
    ("license_type: unknown\n", "no licence"),
    ("license_type: all_rights_reserved_probably\n", "unknown licence"),
    ("license_type: CC-BY-4.0\n", "needs an attribution"),
    ("license_type: commercial_licensed\nattribution: ''\n", "purchase_record"),
    ("license_type: CC0\nretrieval_date: last tuesday\n", "ISO 8601"),
])
def test_bad_licence_metadata_is_rejected_with_the_reason(library: Path, sidecar: str, why: str):
    (library / "characters" / "mara.png.meta.yaml").write_text(sidecar, encoding="utf-8")
    [ch] = resolve(manifest(characters=[need("character:mara", "characters/mara.png")]), library)
    assert ch.status == "placeholder"
    assert why in ch.rejections[0].reason


def test_absent_asset_becomes_a_flagged_placeholder(library: Path):
    [cave] = resolve(manifest(backgrounds=[need("background:sea_cave", "backgrounds/sea_cave.png")]), library)
    assert cave.status == "placeholder"
    assert cave.uri == "placeholder:background:sea_cave"
    assert cave.flagged is True
    assert cave.sha256 is None
    assert cave.reason == "not in asset library: backgrounds/sea_cave.png (no source had it)"
    assert cave.fallbacks == ["library:backgrounds/sea_cave.png"]
    assert cave.license_type == "generated_local"


def test_absent_sound_effect_is_optional_not_flagged(library: Path):
    """A shot plays without its sound effect: nothing stands in for it, so nothing is flagged or listed."""
    r = resolve_need(need("sfx:gulls", "sfx/gulls.wav"), library)
    assert (r.status, r.flagged, r.sha256) == ("placeholder", False, None)
    assert "optional sound effect" in r.reason
    assert placeholders([r]) == []


def test_placeholder_uri_for_a_bare_asset_id(library: Path):
    [p] = resolve(manifest(props=[need("lamp_key", "props/lamp_key.png", kind="prop")]), library)
    assert p.uri == "placeholder:prop:lamp_key"


def test_manifest_order_and_mixed_results(library: Path):
    m = manifest(
        music=[need("music:theme", "music/theme.wav")],
        sfx=[need("sfx:gulls", "sfx/gulls.wav")],
        props=[need("prop:logbook", "props/logbook.png")],
        characters=[need("character:mara", "characters/mara.png")],
        backgrounds=[
            need("background:harbor", "backgrounds/harbor.png"),
            need("background:sea_cave", "backgrounds/sea_cave.png"),
        ],
    )
    out = resolve(m, library)
    assert [a.asset_id for a in out] == [
        "background:harbor",
        "background:sea_cave",
        "character:mara",
        "prop:logbook",
        "sfx:gulls",
        "music:theme",
    ]
    assert [a.status for a in out] == [
        "resolved",
        "placeholder",
        "resolved",
        "placeholder",
        "placeholder",
        "placeholder",
    ]
    assert placeholders(out) == ["background:sea_cave", "prop:logbook", "music:theme"]  # an sfx is optional


@pytest.mark.parametrize("bad", ["../outside.png", "backgrounds/../../outside.png", "..\\outside.png"])
def test_dotdot_paths_are_refused(library: Path, bad: str):
    with pytest.raises(AssetPathError, match="background:evil") as info:
        resolve(manifest(backgrounds=[need("background:evil", bad)]), library)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("bad", ["/etc/passwd", "C:/Windows/win.ini", "\\\\server\\share\\x.png"])
def test_absolute_paths_are_refused(library: Path, bad: str):
    with pytest.raises(AssetPathError, match="absolute"):
        resolve(manifest(backgrounds=[need("background:evil", bad)]), library)


def test_symlink_out_of_the_library_is_refused(library: Path, tmp_path: Path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"outside")
    (library / "backgrounds" / "leak.png").symlink_to(secret)
    with pytest.raises(AssetPathError, match="background:leak"):
        resolve(manifest(backgrounds=[need("background:leak", "backgrounds/leak.png")]), library)


def test_symlinked_folder_out_of_the_library_is_refused(library: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.png").write_bytes(b"outside")
    (library / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(AssetPathError, match="symlink"):
        resolve(manifest(backgrounds=[need("background:x", "linked/x.png")]), library)
    # a dangling link that would point outside is refused too, not turned into a placeholder
    (library / "backgrounds" / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(AssetPathError):
        resolve(manifest(backgrounds=[need("background:d", "backgrounds/dangling.png")]), library)


def test_symlink_inside_the_library_is_fine(library: Path):
    (library / "backgrounds" / "quay.png").symlink_to("harbor.png")
    (library / "backgrounds" / "quay.png.meta.yaml").symlink_to("harbor.png.meta.yaml")  # a licence per file name
    [bg] = resolve(manifest(backgrounds=[need("background:quay", "backgrounds/quay.png")]), library)
    assert bg.status == "resolved"
    assert bg.uri == "library:backgrounds/quay.png"
    assert bg.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()


def test_library_root_that_is_itself_a_symlink_works(library: Path, tmp_path: Path):
    alias = tmp_path / "alias"
    alias.symlink_to(library, target_is_directory=True)
    [bg] = resolve(manifest(backgrounds=[need("background:harbor", "backgrounds/harbor.png")]), alias)
    assert bg.status == "resolved"


def test_library_file_maps_uri_back_and_checks_it(library: Path):
    [bg] = resolve(manifest(backgrounds=[need("background:harbor", "./backgrounds/harbor.png")]), library)
    assert bg.uri == "library:backgrounds/harbor.png"
    path = library_file(library, bg.uri)
    assert path == library / "backgrounds" / "harbor.png"
    verify(path, bg.sha256)
    for bad in ("library:../x.png", "library:/etc/passwd", "placeholder:background:sea_cave", "backgrounds/harbor.png"):
        with pytest.raises(AssetPathError):
            library_file(library, bad)


def test_verify_detects_changed_or_missing_bytes(library: Path):
    [bg] = resolve(manifest(backgrounds=[need("background:harbor", "backgrounds/harbor.png")]), library)
    path = library_file(library, bg.uri)
    path.write_bytes(PNG_BYTES + b"edited")
    with pytest.raises(AssetChangedError, match="changed"):
        verify(path, bg.sha256)
    path.unlink()
    with pytest.raises(AssetChangedError, match="gone"):
        verify(path, bg.sha256)


def test_resolution_is_deterministic_and_location_independent(library: Path, tmp_path: Path):
    m = manifest(
        backgrounds=[
            need("background:harbor", "backgrounds/harbor.png"),
            need("background:sea_cave", "backgrounds/sea_cave.png"),
        ],
        characters=[need("character:mara", "characters/mara.png")],
    )
    first = [a.model_dump(mode="json") for a in resolve(m, library)]
    second = [a.model_dump(mode="json") for a in resolve(m, library)]
    copy = tmp_path / "somewhere" / "else"
    shutil.copytree(library, copy)
    elsewhere = [a.model_dump(mode="json") for a in resolve(m, copy)]
    assert first == second == elsewhere
    text = repr(first)
    assert str(tmp_path) not in text and os.sep + "tmp" not in text
