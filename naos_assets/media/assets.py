"""Media stage: AssetManifest -> RenderPlan (resolved library assets, placeholders flagged, profile settings)."""

from dagster import AssetExecutionContext, Config, Failure, MetadataValue, Output, asset

from engines.media import PLAN_VERSION, AssetPathError, build_render_plan, placeholders, resolve
from resources import NaosHome, NaosProject
from schemas import AssetManifest, RenderPlan

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
        # Resolution reads the library's current bytes, so it always runs; its output hash says what changed.
        resolved = resolve(asset_manifest, project.library(proj))
    except AssetPathError as exc:
        raise Failure(str(exc), metadata={"naos/exit_code": EXIT_BAD_INPUT}, allow_retries=False) from None
    manifest_sha = asset_manifest.sha256()
    params = {"profile": config.profile, "settings": settings.model_dump(mode="json")}
    flagged = placeholders(resolved)
    if flagged:
        context.log.warning(f"placeholders for assets missing from the library: {', '.join(flagged)}")
    return stage_output(
        "render_plan", naos, RenderPlan,
        inputs={"asset_manifest": manifest_sha, **{a.asset_id: a.sha256 or a.uri for a in resolved}},
        params=params, code_version=PLAN_VERSION,
        compute=lambda: build_render_plan(asset_manifest, manifest_sha, resolved, config.profile, settings),
        describe=lambda v: {
            "placeholders": ", ".join(flagged) or "none", "profile": v.profile,
            # §14: licence and provenance of every source the plan points at, kept in the registry record
            "naos/provenance": MetadataValue.json({a.asset_id: {"license_type": a.license_type, "uri": a.uri,
                                                                "provenance": a.provenance} for a in v.assets}),
        },
    )
