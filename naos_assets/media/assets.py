"""Media stage: AssetManifest -> RenderPlan (resolved library assets, placeholders flagged, profile settings)."""

from dagster import AssetExecutionContext, Config, Failure, MetadataValue, Output, asset

from engines.media import (
    PLAN_VERSION,
    RESOLVER_VERSION,
    AssetPathError,
    PluginError,
    Resolver,
    build_render_plan,
    load_sources,
    placeholders,
)
from resources import NaosHome, NaosProject
from schemas import AssetManifest, RenderPlan, canonical_json, sha256_bytes

from ..partitions import episodes
from ..stage import EXIT_BAD_INPUT, bad_input, stage_output


class RenderPlanConfig(Config):
    profile: str = "preview_local"


@asset(partitions_def=episodes, io_manager_key="registry", code_version=PLAN_VERSION, group_name="media",
       kinds={"json"}, description="RenderPlan (§5.8): resolved asset URIs with hashes and fallbacks, and the profile.")
def render_plan(context: AssetExecutionContext, config: RenderPlanConfig, project: NaosProject, naos: NaosHome,
                asset_manifest: AssetManifest) -> Output[RenderPlan]:
    with bad_input():
        proj = project.load()
    settings = proj.render_profiles.get(config.profile)
    if settings is None:
        raise Failure(f"profile {config.profile!r} is not in the project's render_profiles "
                      f"({', '.join(proj.render_profiles)})", metadata={"naos/exit_code": EXIT_BAD_INPUT})
    try:
        sources = load_sources(proj.assets.sources, generate_missing=proj.assets.generate_missing)
        resolver = Resolver(project.library(proj), store=naos.registry(), sources=sources,
                            external_ttl_days=proj.assets.external_ttl_days)
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
    return stage_output(
        "render_plan", naos, RenderPlan,
        # the whole resolution (hashes and licence fields): an edited sidecar is a new plan
        inputs={"asset_manifest": manifest_sha,
                "resolved_assets": sha256_bytes(canonical_json([a.model_dump(mode="json") for a in resolved]))},
        params=params, code_version=PLAN_VERSION,
        compute=lambda: build_render_plan(asset_manifest, manifest_sha, resolved, config.profile, settings),
        describe=lambda v: {
            "placeholders": ", ".join(flagged) or "none", "profile": v.profile,
            "sources": MetadataValue.json({a.asset_id: a.source for a in v.assets}),
            "rejections": MetadataValue.json({a.asset_id: [r.model_dump() for r in a.rejections]
                                              for a in v.assets if a.rejections}),
            "asset_cache_hits": cache.count("cache_hit"), "asset_cache_misses": cache.count("cache_miss"),
            # §14: licence and provenance of every source the plan points at, kept in the registry record
            "naos/provenance": MetadataValue.json({a.asset_id: a.model_dump(
                include={"uri", "source", "license_type", "attribution", "purchase_record", "provider_or_model",
                         "retrieval_date", "redistributable", "cost_usd"}) for a in v.assets}),
        },
    )
