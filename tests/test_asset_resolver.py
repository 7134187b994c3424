"""The asset resolver's priority chain (seed 004 §9), licence rejection (§25.4), degradation (§17), the cache
(§29.3), and the publish-time rights gate and credits (§25). Real files, real registry, real Pillow; only the
external providers are stand-ins (tests/asset_sources.py)."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from engines.media import (
    GenerativeLocal,
    PluginError,
    Resolver,
    credits_text,
    load_sources,
    placeholders,
    plugin_class,
    rights_gate,
)
from io_managers import Registry
from schemas import AssetManifest, AssetNeed, RightsOverride
from tests import asset_sources
from tests.asset_sources import DownSearch, NothingSearch, StockSearch

SIDECAR = "license_type: CC0\nprovider_or_model: a photographer\nretrieval_date: 2026-11-01\n"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def need(asset_id: str, path: str, description: str = "") -> AssetNeed:
    kind = asset_id.split(":")[0]
    return AssetNeed(asset_id=asset_id, kind=kind, name=asset_id.split(":")[1].title(), description=description,
                     library_path=path, shots=["sc01_sh01"])


def manifest(*needs: AssetNeed) -> AssetManifest:
    by = {k: [n for n in needs if n.kind == k] for k in ("background", "character", "prop", "sfx", "music")}
    return AssetManifest.new(episode_id="s01e01", timing_lock_hash="1" * 64,
                             backgrounds=by["background"], character_packs=by["character"], props=by["prop"],
                             sfx=by["sfx"], music=by["music"])


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "library"
    (root / "backgrounds").mkdir(parents=True)
    (root / "backgrounds" / "harbor.png").write_bytes(b"harbor image bytes")
    (root / "backgrounds" / "harbor.png.meta.yaml").write_text(SIDECAR, encoding="utf-8")
    return root


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry.local(tmp_path / "artifacts")


@pytest.fixture(autouse=True)
def _calls():
    asset_sources.CALLS.clear()
    yield


def resolver(library: Path, registry: Registry, *sources, now=T0) -> Resolver:
    return Resolver(library, store=registry, sources=[*sources, GenerativeLocal()], now=lambda: now)


HARBOR = need("background:harbor", "backgrounds/harbor.png", "the harbour at dusk")
CAVE = need("background:sea_cave", "backgrounds/sea_cave.png", "a dark sea cave at night, wet rock")
MARA = need("character:mara", "characters/mara.png", "a fisher in a teal coat and a red cap")
GULLS = need("sfx:gulls", "sfx/gulls.wav")


def test_library_first_then_search_then_generative_then_placeholder(library, registry):
    r = resolver(library, registry, StockSearch())
    harbor, cave, mara, gulls = r.resolve(manifest(HARBOR, CAVE, MARA, GULLS))
    assert (harbor.source, harbor.uri) == ("library", "library:backgrounds/harbor.png")
    assert harbor.sha256 == hashlib.sha256(b"harbor image bytes").hexdigest()
    # the stock source only has backgrounds: the cave comes from it, for its declared cost
    assert (cave.source, cave.license_type, cave.cost_usd) == ("stock_search", "CC-BY-4.0", 0.25)
    assert cave.uri == f"registry:{cave.sha256}" and registry.get_bytes(cave.sha256) == asset_sources._png(CAVE.asset_id)
    assert cave.fallbacks == ["library:backgrounds/sea_cave.png"]
    # no character search: drawn locally, licence generated_local, not cleared for redistribution by default
    assert (mara.source, mara.license_type, mara.redistributable, mara.status) == (
        "generative_local", "generated_local", False, "resolved")
    assert registry.get_bytes(mara.sha256).startswith(b"\x89PNG")
    # nothing can supply a sound effect: an optional, unflagged placeholder
    assert (gulls.status, gulls.source, gulls.flagged) == ("placeholder", "placeholder", False)
    assert asset_sources.CALLS == [("stock_search", "background:sea_cave")]  # the library answered the harbour


def test_library_alone_without_a_store(library):
    harbor, cave = Resolver(library).resolve(manifest(HARBOR, CAVE))
    assert harbor.status == "resolved" and cave.status == "placeholder"
    assert placeholders([harbor, cave]) == ["background:sea_cave"]


def test_cached_asset_is_reused_without_asking_the_source_again(library, registry):
    first = resolver(library, registry, StockSearch()).resolve_need(CAVE)
    assert asset_sources.CALLS == [("stock_search", "background:sea_cave")]
    again = resolver(library, registry, StockSearch())
    second = again.resolve_need(CAVE)
    assert second.model_dump() == first.model_dump()
    assert asset_sources.CALLS == [("stock_search", "background:sea_cave")]  # not asked twice
    assert [e.outcome for e in again.events if e.source == "cache"] == ["cache_hit"]


def test_library_beats_the_cache_once_the_author_adds_the_file(library, registry):
    resolver(library, registry, StockSearch()).resolve_need(CAVE)
    (library / "backgrounds" / "sea_cave.png").write_bytes(b"the author's own cave")
    (library / "backgrounds" / "sea_cave.png.meta.yaml").write_text(SIDECAR, encoding="utf-8")
    cave = resolver(library, registry, StockSearch()).resolve_need(CAVE)
    assert (cave.source, cave.uri) == ("library", "library:backgrounds/sea_cave.png")


def test_external_assets_expire_from_the_cache(library, registry):
    resolver(library, registry, StockSearch(), now=T0).resolve_need(CAVE)
    # within the source's 7-day licence term: a cache hit
    resolver(library, registry, StockSearch(), now=T0 + timedelta(days=6)).resolve_need(CAVE)
    assert len(asset_sources.CALLS) == 1
    # the registry's clock decides expiry; an entry past expires_at is a miss and the source is asked again
    key = resolver(library, registry, StockSearch()).cache_key(CAVE)
    assert registry.cache_get(key, now=T0 + timedelta(days=8)) is None
    resolver(library, registry, StockSearch(), now=T0 + timedelta(days=8)).resolve_need(CAVE)
    assert len(asset_sources.CALLS) == 2


def test_generated_assets_do_not_expire(library, registry):
    r = resolver(library, registry)
    r.resolve_need(MARA)
    key = r.cache_key(MARA)
    assert registry.cache_get(key, now=T0 + timedelta(days=3650)) is not None


def test_unknown_licence_is_rejected_recorded_and_the_next_source_tried(library, registry):
    r = resolver(library, registry, StockSearch(license_type="whatever-the-site-said"))
    cave = r.resolve_need(CAVE)
    assert cave.source == "generative_local"
    [rej] = cave.rejections
    assert rej.source == "stock_search" and rej.uri == "https://stock.example/background:sea_cave"
    assert "unknown licence 'whatever-the-site-said'" in rej.reason
    assert cave.fallbacks == ["library:backgrounds/sea_cave.png", "https://stock.example/background:sea_cave"]
    assert ("stock_search", "rejected") in [(e.source, e.outcome) for e in r.events]


def test_bytes_that_are_not_an_image_are_rejected(library, registry):
    cave = resolver(library, registry, StockSearch(data=b"<html>rate limited</html>")).resolve_need(CAVE)
    assert cave.source == "generative_local"
    assert "not a readable image" in cave.rejections[0].reason


def test_cc_by_without_attribution_is_rejected(library, registry):
    cave = resolver(library, registry, StockSearch(attribution="")).resolve_need(CAVE)
    assert cave.source == "generative_local"
    assert "needs an attribution" in cave.rejections[0].reason


def test_a_source_that_errors_degrades_to_the_next(library, registry):
    r = resolver(library, registry, DownSearch(), NothingSearch(), StockSearch())
    cave = r.resolve_need(CAVE)
    assert cave.source == "stock_search"
    assert [c[0] for c in asset_sources.CALLS] == ["down_search", "nothing_search", "stock_search"]
    assert [(x.source, x.reason) for x in cave.rejections] == [("down_search", "source error: 503 Service Unavailable")]


def test_every_source_failing_leaves_a_flagged_placeholder(library, registry):
    r = Resolver(library, store=registry, sources=[DownSearch()])
    cave = r.resolve_need(CAVE)
    assert (cave.status, cave.flagged, cave.uri) == ("placeholder", True, "placeholder:background:sea_cave")
    assert "rejected" in cave.reason and cave.rejections[0].source == "down_search"


def test_generated_stand_ins_are_deterministic_across_registries(library, tmp_path):
    a = resolver(library, Registry.local(tmp_path / "a")).resolve(manifest(CAVE, MARA))
    b = resolver(library, Registry.local(tmp_path / "b")).resolve(manifest(CAVE, MARA))
    assert [x.model_dump() for x in a] == [x.model_dump() for x in b]
    assert a[0].sha256 != a[1].sha256


def test_enabling_a_source_is_a_new_cache_key(library, registry):
    plain = resolver(library, registry).cache_key(CAVE)
    with_stock = resolver(library, registry, StockSearch()).cache_key(CAVE)
    assert plain != with_stock
    moved = CAVE.model_copy(update={"library_path": "elsewhere/cave.png"})
    assert resolver(library, registry).cache_key(moved) == plain  # keys never hold paths


# ---- plugins ------------------------------------------------------------------------------------------------------


def test_plugins_load_by_module_path_with_options_and_the_generator_last():
    configs = [SimpleNamespace(source="tests.asset_sources:StockSearch", options={"attribution": "Ada"}),
               SimpleNamespace(source="generative_local", options={})]
    sources = load_sources(configs)
    assert [s.name for s in sources] == ["stock_search", "generative_local"]
    assert sources[0].options == {"attribution": "Ada"}
    assert [s.name for s in load_sources([], generate_missing=True)] == ["generative_local"]
    assert load_sources([], generate_missing=False) == []
    assert (StockSearch.locality, StockSearch.cost_usd, GenerativeLocal.locality) == ("external", 0.25, "local")


@pytest.mark.parametrize("spec, why", [
    ("nope_not_installed", "not installed"),
    ("tests.asset_sources:Missing", "cannot be imported"),
    ("tests.asset_sources:NotASource", "not an AssetSource"),
])
def test_bad_plugin_names_are_clear_errors(spec, why):
    with pytest.raises(PluginError, match=why):
        plugin_class(spec)


def test_no_external_source_is_enabled_by_default():
    from schemas import Project

    assert Project.model_fields["assets"].default_factory().sources == []
    assert all(s.locality == "local" for s in load_sources([]))


# ---- rights gate and credits --------------------------------------------------------------------------------------


def test_rights_gate_blocks_unknown_licences_and_uncleared_assets_then_an_override_is_recorded(library, registry):
    assets = resolver(library, registry, StockSearch()).resolve(manifest(HARBOR, CAVE, MARA, GULLS))
    unknown = assets[0].model_copy(update={"license_type": "unknown", "asset_id": "background:mystery"})
    report = rights_gate([*assets, unknown])
    assert not report.passed and report.override is None
    assert {(i.asset_id, i.problem.split(" (")[0].split(":")[0]) for i in report.issues} == {
        ("character:mara", "not cleared for redistribution"), ("background:mystery", "no licence")}
    overridden = rights_gate([*assets, unknown], RightsOverride(approver="rights@studio", reason="own drawing"))
    assert not overridden.passed
    assert overridden.override.approver == "rights@studio"
    with pytest.raises(ValueError):
        RightsOverride(approver="")


def test_rights_gate_passes_cleared_assets(library, registry):
    harbor = resolver(library, registry).resolve_need(HARBOR)
    assert rights_gate([harbor]).passed


def test_credits_list_every_attribution_once(library, registry):
    other = need("background:pier", "backgrounds/pier.png", "a pier")
    assets = resolver(library, registry, StockSearch()).resolve(manifest(HARBOR, CAVE, other, MARA))
    report = rights_gate(assets)
    assert report.attributions == ["Photo of background:sea_cave by Ada Lens (CC-BY-4.0)",
                                   "Photo of background:pier by Ada Lens (CC-BY-4.0)"]
    text = credits_text("The Lamp", "s01e01", assets)
    for line in report.attributions:
        assert line in text
    for a in assets:
        assert a.asset_id in text
    assert text.index("Attributions") < text.index("Assets")


def test_an_evicted_asset_is_fetched_again_not_handed_out_dangling(library, registry):
    first = resolver(library, registry, StockSearch()).resolve_need(CAVE)
    report = registry.cache_prune(0, now=T0 + timedelta(days=1))  # nothing current refers to it: all evictable
    assert report.evicted >= 2 and not registry.has(first.sha256)
    again = resolver(library, registry, StockSearch(), now=T0 + timedelta(days=1)).resolve_need(CAVE)
    assert again.sha256 == first.sha256 and registry.has(again.sha256)
    assert len(asset_sources.CALLS) == 2


def test_cache_cli_shows_and_prunes(tmp_path, registry):
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    home = tmp_path / "home"
    reg = Registry.local(home / "artifacts")
    for i in range(3):
        reg.cache_put(f"key{i}", reg.put_bytes(bytes([i]) * 1000), "shot_clip", now=T0 + timedelta(minutes=i))
    env = {"NAOS_HOME": str(home), "PATH": "/usr/bin:/bin"}

    def naos(*args):
        return subprocess.run([sys.executable, "-m", "naos_assets.cli", "cache", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=120)

    stats = naos("stats")
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert (data["entries"], data["bytes"], data["stages"]["shot_clip"]["entries"]) == (3, 3000, 3)
    pruned = naos("prune", "--max-size", "1500B", "--min-idle-minutes", "0")
    assert pruned.returncode == 0, pruned.stderr
    assert "2 evicted" in pruned.stderr
    assert reg.cache_get("key2") is not None and reg.cache_get("key0") is None  # least recently used went first
    assert naos("prune", "--max-size", "lots").returncode == 2


def test_sources_without_a_store_is_a_clear_error(library):
    with pytest.raises(ValueError, match="needs a store"):
        Resolver(library, sources=[GenerativeLocal()])


# ---- face rigs: where a character's face is, for blinks and a talking mouth ------------------------------------------

FACE = "face:\n  eyes: [[184, 114], [218, 114]]\n  eye_r: 4\n  mouth: [200, 146]\n  mouth_w: 22\n  skin: '#e8c0a4'\n"


def _character(library: Path, sidecar: str) -> None:
    (library / "characters").mkdir(exist_ok=True)
    (library / "characters" / "mara.png").write_bytes(b"mara image bytes")
    (library / "characters" / "mara.png.meta.yaml").write_text(SIDECAR + sidecar, encoding="utf-8")


def test_a_library_sidecar_face_reaches_the_plan_and_the_generator_draws_one(library, registry):
    _character(library, FACE)
    mara = resolver(library, registry).resolve_need(MARA)
    assert mara.source == "library" and mara.face is not None
    assert (mara.face.eyes, mara.face.eye_r, mara.face.mouth, mara.face.skin) == (
        [(184, 114), (218, 114)], 4, (200, 146), "#e8c0a4")
    # a generated stand-in carries the rig of the face the generator drew, and keeps it through the cache
    ines = need("character:ines", "characters/ines.png", "a cartographer in a mustard coat, bearded")
    drawn = resolver(library, registry).resolve_need(ines)
    cached = resolver(library, registry).resolve_need(ines)
    assert drawn.source == "generative_local" and drawn.face is not None and cached.face == drawn.face
    assert drawn.face.mouth_bg is not None  # a beard around the mouth
    plate = Image.open(io.BytesIO(registry.get_bytes(drawn.sha256)))
    eye = plate.getpixel(tuple(drawn.face.eyes[0]))
    assert eye[3] == 255 and max(eye[:3]) < 60  # a dark eye where the rig says
    skin = plate.getpixel((drawn.face.eyes[0][0], drawn.face.eyes[0][1] + 3 * drawn.face.eye_r))
    assert "#{:02x}{:02x}{:02x}".format(*skin[:3]) == drawn.face.skin


@pytest.mark.parametrize("face, why", [
    ("face:\n  eyes: [[1, 2]]\n  eye_r: 4\n  mouht: [1, 2]\n  mouth_w: 3\n  skin: '#ffffff'\n",
     "face.mouht is not a face field (did you mean 'mouth'?)"),
    ("face:\n  eyes: [[1, 2]]\n  eye_r: 4\n  mouth: [1, 2]\n  mouth_w: 3\n  skin: white\n", "face.skin: String should"),
    ("face: [1, 2]\n", "face must be a mapping"),
])
def test_a_bad_face_in_a_sidecar_rejects_the_file_naming_the_field(library, registry, face, why):
    _character(library, face)
    mara = resolver(library, registry).resolve_need(MARA)
    assert mara.source == "generative_local"  # the library file was turned down, the generator drew a stand-in
    reasons = [r.reason for r in mara.rejections if r.source == "library"]
    assert reasons and "sidecar characters/mara.png.meta.yaml" in reasons[0] and why in reasons[0], reasons
