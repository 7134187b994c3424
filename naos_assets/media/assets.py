"""Media stage: AssetManifest -> RenderPlan (resolved library assets, placeholders flagged, profile settings)."""

import json
from dataclasses import asdict

from dagster import AssetDep, AssetExecutionContext, Config, Failure, MetadataValue, Output, asset

from engines.media import (
    PLAN_VERSION,
    RESOLVER_VERSION,
    AssetPathError,
    PluginError,
    Resolver,
    build_render_plan,
    load_sources,
    paid_spend,
    placeholders,
    remaining_budget,
)
from engines.media.settings import project_vocabulary
from resources import NaosHome, NaosProject
from schemas import AssetManifest, RenderPlan, canonical_json, sha256_bytes

from ..figures import hit_rate
from ..partitions import episodes
from ..queues import MEDIA_QUEUE, on_queue
from ..sources import PROJECT_FILE
from ..stage import EXIT_BAD_INPUT, bad_input, stage_output


def earlier_episode_spend(registry, episode: str) -> float:
    """External spend of the episode's earlier runs, from the registry's records of its past RenderPlans (each keeps
    the source and cost_usd of every asset as provenance; the plan itself when an old record has none). The registry
    is always there, unlike the analytics views (written after a run, maybe never). Each paid asset counts once
    (engines.media.paid_spend): one reused through the cache in later plans was bought once."""
    assets: list[dict] = []
    for record in registry.iter_records("render_plan", episode):  # the records index: store or PostgreSQL
        try:
            provenance = record.get("provenance") or {}
            if provenance:
                assets += [a for a in provenance.values() if isinstance(a, dict)]
            elif registry.has(record["sha256"]):
                assets += json.loads(registry.get_bytes(record["sha256"])).get("assets", [])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # an unreadable record is not spend we can see
    return paid_spend(assets)


def build_resolver(project: NaosProject, proj, naos: NaosHome, budget_usd: float | None = None) -> Resolver:
    """The project's resolver (library, registry cache, configured sources); a source that cannot be loaded is bad
    input naming the project file and `assets.sources[i]` (exit 2)."""
    try:
        vocab = project_vocabulary(proj.assets.setting_words)
        sources = load_sources(proj.assets.sources, generate_missing=proj.assets.generate_missing, vocab=vocab)
    except PluginError as exc:
        raise Failure(f"{project.project_file}: {exc}", metadata={"naos/exit_code": EXIT_BAD_INPUT},
                      allow_retries=False) from None
    return Resolver(project.library(proj), store=naos.registry(), sources=sources,
                    external_ttl_days=proj.assets.external_ttl_days, budget_usd=budget_usd, vocab=vocab)


class RenderPlanConfig(Config):
    profile: str = "preview_local"


@asset(partitions_def=episodes, io_manager_key="registry", code_version=PLAN_VERSION, group_name="episode", **on_queue(MEDIA_QUEUE),
       kinds={"json"}, deps=[AssetDep("external_spend_approval"), AssetDep(PROJECT_FILE)],
       description="Where each picture and sound the episode needs comes from (the library, the cache, a paid or "
                   "generated source, or a flagged placeholder) with its hash, licence and cost, and the render "
                   "profile's settings. The shot renderer and the mix read it.")
def render_plan(context: AssetExecutionContext, config: RenderPlanConfig, project: NaosProject, naos: NaosHome,
                asset_manifest: AssetManifest) -> Output[RenderPlan]:
    with bad_input():
        proj = project.load()
    settings = proj.render_profiles.get(config.profile)
    if settings is None:
        raise Failure(f"profile {config.profile!r} is not in the project's render_profiles "
                      f"({', '.join(proj.render_profiles)})", metadata={"naos/exit_code": EXIT_BAD_INPUT})
    # §12.4: this run may spend the smaller of the per-run cap and what earlier runs left of the per-episode cap
    policy = proj.cost_policy
    spent_before = earlier_episode_spend(naos.registry(), context.partition_key)
    budget = remaining_budget(policy.max_run_usd, policy.max_episode_usd, spent_before)
    resolver = build_resolver(project, proj, naos, budget_usd=budget)
    try:
        # Resolution reads the library's current bytes, so it always runs; its output hash says what changed.
        resolved = resolver.resolve(asset_manifest)
    except (AssetPathError, PluginError) as exc:
        raise Failure(f"{project.project_file}: {exc}", metadata={"naos/exit_code": EXIT_BAD_INPUT},
                      allow_retries=False) from None
    manifest_sha = asset_manifest.sha256()
    params = {"profile": config.profile, "settings": settings.model_dump(mode="json"), "resolver": RESOLVER_VERSION}
    for a in resolved:
        for r in a.rejections:
            context.log.warning(f"{a.asset_id}: {r.source} {r.uri} rejected: {r.reason}")
        if a.source not in ("library", "placeholder"):
            context.log.info(f"{a.asset_id}: not in the library; {a.source} supplied it ({a.license_type})")
    flagged = placeholders(resolved)
    if flagged:
        context.log.warning(f"placeholders for assets missing from the library: {', '.join(flagged)}")
    cache = [e.outcome for e in resolver.events if e.source == "cache"]
    stopped = resolver.budget_exceeded
    if stopped:
        context.log.warning(f"budget exceeded (remaining {budget:g} USD of cost_policy max_run_usd="
                            f"{policy.max_run_usd}, max_episode_usd={policy.max_episode_usd}, spent earlier "
                            f"{spent_before:g}): paid sources not asked for {', '.join(stopped)}; local fallbacks used")
    budget_meta = {
        "naos/budget_exceeded": MetadataValue.json(stopped),
        "naos/external_spend_usd": resolver.spent_usd,
        # what this run paid for, asset by asset (cache hits of earlier purchases cost nothing): the costs table
        "naos/external_purchases": MetadataValue.json([{"asset_id": a, "source": s, "usd": u}
                                                       for a, s, u in resolver.purchases]),
        "naos/budget": MetadataValue.json({
            "remaining_usd": budget, "max_run_usd": policy.max_run_usd, "max_episode_usd": policy.max_episode_usd,
            "episode_spent_before_usd": spent_before, "spent_usd": resolver.spent_usd,
            "stops": [asdict(s) for s in resolver.stops]}),
    }
    return stage_output(
        "render_plan", naos, RenderPlan,
        # the whole resolution (hashes and licence fields): an edited sidecar is a new plan
        inputs={"asset_manifest": manifest_sha,
                "resolved_assets": sha256_bytes(canonical_json([a.model_dump(mode="json") for a in resolved]))},
        params=params, code_version=PLAN_VERSION,
        compute=lambda: build_render_plan(asset_manifest, resolved, config.profile, settings),
        describe=lambda v: {
            "placeholders": ", ".join(flagged) or "none", "profile": v.profile,
            "sources": MetadataValue.json({a.asset_id: a.source for a in v.assets}),
            "rejections": MetadataValue.json({a.asset_id: [r.model_dump() for r in a.rejections]
                                              for a in v.assets if a.rejections}),
            "asset_cache_hits": cache.count("cache_hit"), "asset_cache_misses": cache.count("cache_miss"),
            **hit_rate("asset_cache_hit_rate", cache.count("cache_hit"),
                       cache.count("cache_hit") + cache.count("cache_miss")),
            # §14: licence and provenance of every source the plan points at, kept in the registry record
            "naos/provenance": MetadataValue.json({a.asset_id: a.model_dump(
                include={"uri", "source", "license_type", "attribution", "purchase_record", "provider_or_model",
                         "retrieval_date", "redistributable", "cost_usd"}) for a in v.assets}),
            **budget_meta,
        },
    )
