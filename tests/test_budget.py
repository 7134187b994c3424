"""Budget enforcement (seed 004 §12.4): per-run and per-episode caps stop paid external asset sources before they are
asked, resolution falls back to local generation, the stop is recorded on the asset, in the render_plan metadata and
as a budget_exceeded alert; a spend estimate that asks no source, for the approve_external_spend checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, MetadataValue, Output, asset, build_run_status_sensor_context, materialize

from engines.media import (
    BUDGET_REASON,
    GenerativeLocal,
    Resolver,
    SpendEstimate,
    SpendItem,
    estimate_external_spend,
    paid_spend,
    remaining_budget,
)
from io_managers import Registry
from naos_assets.media.assets import earlier_episode_spend
from resources import NaosHome
from schemas import Project
from sensors import alert_on_retries
from sensors.alert_sensor import run_alerts
from sensors.alerting import AlertEmitter
from tests import asset_sources
from tests.asset_sources import NothingSearch, PaidPainter, StockSearch
from tests.test_asset_resolver import CAVE, HARBOR, MARA, SIDECAR, T0, manifest, need

PIER = need("background:pier", "backgrounds/pier.png", "a wooden pier in fog")


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


def resolver(library: Path, registry: Registry, *sources, budget: float | None = None,
             generate: bool = True) -> Resolver:
    return Resolver(library, store=registry, sources=[*sources, *([GenerativeLocal()] if generate else [])],
                    now=lambda: T0, budget_usd=budget)


# ---- the caps -------------------------------------------------------------------------------------------------------


def test_under_budget_the_paid_source_is_used_and_its_price_counted(library, registry):
    r = resolver(library, registry, StockSearch(), budget=1.0)
    harbor, cave = r.resolve(manifest(HARBOR, CAVE))
    assert harbor.source == "library"
    assert (cave.source, cave.cost_usd, cave.rejections) == ("stock_search", 0.25, [])
    assert (r.spent_usd, r.budget_exceeded, r.stops) == (0.25, [], [])
    assert asset_sources.CALLS == [("stock_search", "background:sea_cave")]


def test_over_the_run_cap_the_source_is_not_asked_and_local_generation_stands_in(library, registry):
    r = resolver(library, registry, StockSearch(), budget=0.10)
    cave = r.resolve_need(CAVE)
    assert asset_sources.CALLS == []  # never asked: no money spent
    assert (cave.status, cave.source, cave.license_type) == ("resolved", "generative_local", "generated_local")
    [rejection] = cave.rejections
    assert rejection.source == "stock_search" and rejection.reason.startswith(BUDGET_REASON)
    assert "0.25 USD" in rejection.reason and "budget of 0.1 USD" in rejection.reason
    assert (r.spent_usd, r.budget_exceeded) == (0.0, ["background:sea_cave"])
    [stop] = r.stops
    assert (stop.source, stop.cost_usd, stop.spent_usd, stop.budget_usd) == ("stock_search", 0.25, 0.0, 0.1)
    assert ("stock_search", "budget") in [(e.source, e.outcome) for e in r.events]


def test_the_cap_covers_the_whole_run_and_a_cheaper_or_free_source_after_a_stop_still_runs(library, registry):
    # 0.30 buys one 0.25 background, not two; the painter (0.50) never fits; the character is drawn locally
    r = resolver(library, registry, StockSearch(), PaidPainter(), budget=0.30)
    cave, pier, mara = r.resolve(manifest(CAVE, PIER, MARA))
    assert (cave.source, pier.source, mara.source) == ("stock_search", "generative_local", "generative_local")
    assert [x.source for x in pier.rejections] == ["stock_search", "paid_painter"]
    assert r.budget_exceeded == ["background:pier", "character:mara"] and r.spent_usd == 0.25
    assert asset_sources.CALLS == [("stock_search", "background:sea_cave")]
    # a zero budget with an earlier free source: the free source is still asked
    r0 = resolver(library, registry, NothingSearch(), StockSearch(), budget=0.0)
    assert r0.resolve_need(PIER).source == "generative_local"
    assert asset_sources.CALLS[-1] == ("nothing_search", "background:pier")


def test_without_a_local_generator_a_stopped_need_is_a_flagged_placeholder(library, registry):
    cave = resolver(library, registry, StockSearch(), budget=0.0, generate=False).resolve_need(CAVE)
    assert (cave.status, cave.flagged) == ("placeholder", True)
    assert "rejected" in cave.reason and cave.rejections[0].reason.startswith(BUDGET_REASON)


def test_a_budget_fallback_is_not_cached_so_a_later_run_with_budget_gets_the_paid_asset(library, registry):
    poor = resolver(library, registry, StockSearch(), budget=0.0)
    assert poor.resolve_need(CAVE).source == "generative_local"
    # same key as an unbudgeted resolver (the budget is never part of a cache key), and nothing stored under it
    assert poor.cache_key(CAVE) == resolver(library, registry, StockSearch()).cache_key(CAVE)
    assert registry.cache_get(poor.cache_key(CAVE)) is None
    rich = resolver(library, registry, StockSearch(), budget=1.0)
    assert rich.resolve_need(CAVE).source == "stock_search"
    assert asset_sources.CALLS == [("stock_search", "background:sea_cave")]


def test_cache_hits_of_paid_assets_cost_nothing(library, registry):
    first = resolver(library, registry, StockSearch())
    bought = first.resolve_need(CAVE)
    assert first.spent_usd == 0.25
    broke = resolver(library, registry, StockSearch(), budget=0.0)
    again = broke.resolve_need(CAVE)
    assert again.model_dump() == bought.model_dump()  # the same asset, the plan's bytes unchanged
    assert (broke.spent_usd, broke.budget_exceeded) == (0.0, [])
    assert [e.outcome for e in broke.events if e.source == "cache"] == ["cache_hit"]
    assert len(asset_sources.CALLS) == 1


def test_a_rejected_candidate_is_not_spend(library, registry):
    r = resolver(library, registry, StockSearch(license_type="whatever"), budget=1.0)
    assert r.resolve_need(CAVE).source == "generative_local"
    assert r.spent_usd == 0.0


def test_remaining_budget_is_the_smaller_cap_never_negative():
    assert remaining_budget(None, None, 5.0) is None
    assert remaining_budget(1.0, None, 5.0) == 1.0  # the run cap ignores earlier runs
    assert remaining_budget(None, 1.0, 0.25) == 0.75
    assert remaining_budget(0.5, 1.0, 0.25) == 0.5
    assert remaining_budget(1.0, 1.0, 0.9) == pytest.approx(0.1)
    assert remaining_budget(None, 1.0, 3.0) == 0.0


def test_the_episode_cap_counts_earlier_spend(library, registry, tmp_path):
    # run 1: the episode may spend 0.30; it buys the cave
    run1 = resolver(library, registry, StockSearch(), budget=remaining_budget(None, 0.30, 0.0))
    plan1 = run1.resolve(manifest(HARBOR, CAVE))
    assert run1.spent_usd == 0.25
    # the registry keeps the plan's provenance in its record: that is where the render_plan asset reads earlier spend
    provenance = {a.asset_id: a.model_dump(include={"uri", "source", "cost_usd"}) for a in plan1}
    registry.put_record("render_plan", "s01e01", "a" * 64, schema_version="1.2.0", parents={}, params={},
                        code_version="x", media_type="application/json", provenance=provenance)
    spent = earlier_episode_spend(registry, "s01e01")
    assert spent == 0.25 and earlier_episode_spend(registry, "s01e02") == 0.0
    # run 2: 0.05 left for the episode; the cached cave is free, the pier (0.25) would cross the cap
    run2 = resolver(library, registry, StockSearch(), budget=remaining_budget(None, 0.30, spent))
    cave, pier = run2.resolve(manifest(CAVE, PIER))
    assert (cave.source, pier.source) == ("stock_search", "generative_local")
    assert run2.budget_exceeded == ["background:pier"] and run2.spent_usd == 0.0
    assert asset_sources.CALLS == [("stock_search", "background:sea_cave")]
    # the same paid asset reused by later plans was bought once
    assert paid_spend([*provenance.values(), *provenance.values()]) == 0.25


# ---- the estimate ---------------------------------------------------------------------------------------------------


def test_estimate_asks_no_source_and_skips_what_the_library_or_cache_answers(library, registry):
    sources = (NothingSearch(), StockSearch(), PaidPainter())
    resolver(library, registry, *sources).resolve_need(CAVE)  # the cave is now in the cache (same sources, same key)
    asset_sources.CALLS.clear()
    entries = len(registry.cache_entries())
    r = resolver(library, registry, *sources)
    estimate = r.estimate_external_spend(manifest(HARBOR, CAVE, PIER, MARA, need("sfx:gulls", "sfx/gulls.wav")))
    assert asset_sources.CALLS == [] and r.events == []  # no source asked, nothing resolved
    assert len(registry.cache_entries()) == entries  # nothing written
    # harbour: library; cave: cache; pier: the first paid search; mara: no paid search, so the paid generator;
    # gulls: no paid source covers sound effects
    assert estimate == SpendEstimate(items=(SpendItem("background:pier", "background", "stock_search", 0.25),
                                            SpendItem("character:mara", "character", "paid_painter", 0.5)),
                                     total_usd=0.75)


def test_estimate_hash_is_deterministic_canonical_json(library, tmp_path):
    sources = [StockSearch(), PaidPainter()]
    a = estimate_external_spend(manifest(HARBOR, CAVE, MARA), library, Registry.local(tmp_path / "a"), sources)
    b = estimate_external_spend(manifest(HARBOR, CAVE, MARA), library, Registry.local(tmp_path / "b"), sources)
    assert a == b and a.sha256() == b.sha256()
    body = {"items": [{"cost_usd": 0.25, "kind": "background", "need_id": "background:sea_cave",
                       "source": "stock_search"},
                      {"cost_usd": 0.5, "kind": "character", "need_id": "character:mara", "source": "paid_painter"}],
            "total_usd": 0.75}
    assert a.sha256() == hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert str(library) not in a.canonical_json().decode()
    cheaper = estimate_external_spend(manifest(HARBOR, CAVE), library, Registry.local(tmp_path / "c"), sources)
    assert cheaper.sha256() != a.sha256() and cheaper.total_usd == 0.25
    assert estimate_external_spend(manifest(CAVE), library).items == ()  # no sources, nothing to buy


def test_an_invalid_library_licence_is_not_an_answer_for_the_estimate(library, registry):
    (library / "backgrounds" / "harbor.png.meta.yaml").write_text("license_type: whatever\n", encoding="utf-8")
    estimate = resolver(library, registry, StockSearch()).estimate_external_spend(manifest(HARBOR))
    assert [i.need_id for i in estimate.items] == ["background:harbor"]


def test_cost_policy_fields():
    policy = Project.model_fields["cost_policy"].default_factory()
    assert (policy.max_run_usd, policy.max_episode_usd, policy.approval_threshold_usd) == (None, None, 0.0)
    assert Project.SCHEMA_VERSION == "1.4.0"
    with pytest.raises(ValueError):
        type(policy)(max_run_usd=-1)


# ---- the alert --------------------------------------------------------------------------------------------------------


@asset
def render_plan():
    return Output(1, metadata={"naos/budget_exceeded": MetadataValue.json(["background:sea_cave"]),
                               "naos/budget": MetadataValue.json({"remaining_usd": 0.1, "spent_usd": 0.0}),
                               "naos/external_spend_usd": 0.0})


@asset
def within_budget():
    return Output(1, metadata={"naos/budget_exceeded": MetadataValue.json([]), "naos/external_spend_usd": 0.25})


def test_a_successful_run_whose_budget_stopped_a_source_raises_budget_exceeded(tmp_path):
    instance = DagsterInstance.ephemeral()
    stopped = materialize([render_plan], instance=instance)
    fine = materialize([within_budget], instance=instance)
    assert stopped.success and fine.success
    [alert] = run_alerts(instance, stopped.run_id)
    assert (alert.alert_type, alert.stage, alert.run_id) == ("budget_exceeded", "render_plan", stopped.run_id)
    assert "background:sea_cave" in alert.message
    assert run_alerts(instance, fine.run_id) == []
    # through the success sensor, as the daemon calls it
    context = build_run_status_sensor_context(
        sensor_name="alert_on_retries", dagster_instance=instance, dagster_run=stopped.dagster_run,
        dagster_event=stopped.get_run_success_event(), resources={"naos": NaosHome(naos_home=str(tmp_path))})
    alert_on_retries(context)
    [logged] = AlertEmitter(tmp_path).history()
    assert (logged["alert_type"], logged["severity"], logged["stage"]) == ("budget_exceeded", "critical", "render_plan")


# ---- the real pipeline ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_cap_below_the_price_renders_with_the_local_stand_in_and_alerts(tmp_path):
    from tests.test_cli import _copy_pilot, _edit_yaml, render

    project = _copy_pilot(tmp_path)

    def configure(cap: float):
        def change(d):
            d["assets"] = {"sources": [{"source": "tests.asset_sources:StockSearch",
                                        "options": {"attribution": "Sea cave by Ada Lens"}}]}
            d["cost_policy"]["max_run_usd"] = cap
        _edit_yaml(project / "project.yaml", change)

    configure(0.10)
    home, out = tmp_path / "home", tmp_path / "out"
    result = render(project / "project.yaml", out, home, episode="s01e02")
    assert result.returncode == 0, result.stderr
    plan = json.loads((out / "RenderPlan.json").read_text())
    cave = next(a for a in plan["assets"] if a["asset_id"] == "background:sea_cave")
    assert (cave["source"], cave["license_type"]) == ("generative_local", "generated_local")
    assert [r["source"] for r in cave["rejections"]] == ["stock_search"]
    assert cave["rejections"][0]["reason"].startswith(BUDGET_REASON)
    run_id = json.loads((out / "run_summary.json").read_text())["run_id"]
    alerts = [json.loads(line) for line in (home / "alerts" / "alerts.jsonl").read_text().splitlines()]
    [alert] = [a for a in alerts if a["alert_type"] == "budget_exceeded"]
    assert (alert["run_id"], alert["stage"], alert["severity"], alert["episode_id"]) == (
        run_id, "render_plan", "critical", "s01e02")
    assert "background:sea_cave" in alert["message"]
    assert "alert budget_exceeded (render_plan)" in result.stderr

    # the same inputs and budget again: the same plan, byte for byte
    again = render(project / "project.yaml", tmp_path / "again", home, episode="s01e02")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "RenderPlan.json").read_bytes() == (out / "RenderPlan.json").read_bytes()

    # budget for it: the paid asset now wins (the fallback was never cached under the need's key)
    configure(1.0)
    richer = render(project / "project.yaml", tmp_path / "richer", home, episode="s01e02")
    assert richer.returncode == 0, richer.stderr
    cave = next(a for a in json.loads((tmp_path / "richer" / "RenderPlan.json").read_text())["assets"]
                if a["asset_id"] == "background:sea_cave")
    assert (cave["source"], cave["cost_usd"], cave["rejections"]) == ("stock_search", 0.25, [])
    # what a per-episode cap counts as this episode's earlier spend: read from the registry's RenderPlan records
    assert earlier_episode_spend(Registry.local(home / "artifacts"), "s01e02") == 0.25
    alerts = [json.loads(line) for line in (home / "alerts" / "alerts.jsonl").read_text().splitlines()]
    stopped_runs = {a["run_id"] for a in alerts if a["alert_type"] == "budget_exceeded"}
    richer_run = json.loads((tmp_path / "richer" / "run_summary.json").read_text())["run_id"]
    again_run = json.loads((tmp_path / "again" / "run_summary.json").read_text())["run_id"]
    assert stopped_runs == {run_id, again_run} and richer_run not in stopped_runs
