"""engines/video/quality.py: the missing_assets gate says where the episode's assets came from, counted by source."""

from __future__ import annotations

from engines.video.quality import QUALITY_GATES, missing_assets
from schemas.artifacts import ResolvedAsset


def asset(asset_id: str, source: str, *, status: str = "resolved", flagged: bool = False, cost: float = 0.0,
          licence: str = "CC0-1.0") -> ResolvedAsset:
    kind = asset_id.split(":")[0]
    sha = None if status == "placeholder" else "0" * 64
    return ResolvedAsset(asset_id=asset_id, kind=kind, status=status, uri=f"x:{asset_id}", sha256=sha, source=source,
                         flagged=flagged, cost_usd=cost, license_type=licence)


LIBRARY = [asset(f"background:b{i}", "library") for i in range(4)]
GENERATED = [asset(f"character:c{i}", "generative_local", licence="generated_local") for i in range(3)]


def test_library_and_generated_assets_are_counted_apart():
    check = missing_assets([], LIBRARY + GENERATED)
    assert check.passed
    assert check.detail == "7 assets resolved: 4 from the library, 3 generated locally; none missing"


def test_every_asset_from_the_library():
    assert missing_assets([], LIBRARY).detail == "4 assets resolved: 4 from the library; none missing"


def test_a_paid_provider_and_the_cache_are_named_with_what_they_cost():
    stock = [asset("background:cave", "stock_search", cost=0.25, licence="CC-BY-4.0"),
             asset("prop:lamp", "stock_search", cost=0.5, licence="CC-BY-4.0")]
    free = [asset("sfx:door", "freesound_local"), asset("music:bed", "cache")]
    check = missing_assets([], [*stock, *GENERATED[:1], *free, *LIBRARY[:1]])
    assert check.detail == ("6 assets resolved: 1 from the library, 1 generated locally, 1 from the cache, "
                            "1 from freesound_local, 2 from stock_search (paid, 0.75 USD); none missing")


def test_placeholders_fail_the_gate_and_optional_ones_are_listed():
    missing = asset("background:sea_cave", "placeholder", status="placeholder", flagged=True)
    optional = asset("expression:mara/afraid", "placeholder", status="placeholder")
    check = missing_assets(["background:sea_cave"], [*LIBRARY[:2], missing, optional])
    assert not check.passed
    assert check.detail == ("2 assets resolved: 2 from the library; 1 optional asset left out "
                            "(expression:mara/afraid); 1 missing, flagged placeholders: background:sea_cave")
    optional_only = missing_assets([], [*GENERATED[:1], optional])
    assert optional_only.passed
    assert optional_only.detail == ("1 asset resolved: 1 generated locally; 1 optional asset left out "
                                    "(expression:mara/afraid); none missing")


def test_without_the_plan_s_assets_it_still_tells_the_truth():
    assert missing_assets([]).detail == "no flagged placeholder"
    assert missing_assets(["background:x"]).detail == "placeholders (flagged): background:x"
    assert "missing_assets" in QUALITY_GATES
