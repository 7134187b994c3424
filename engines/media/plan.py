"""RenderPlan (§5.8): the AssetManifest mapped to resolved sources, plus the render profile."""

from __future__ import annotations

from schemas import AssetManifest, CaptionSettings, RenderPlan, RenderProfileSettings, ResolvedAsset

PLAN_VERSION = "render-plan@3"  # + §25.2 rights fields, sources and rejections


def build_render_plan(manifest: AssetManifest, resolved: list[ResolvedAsset], profile: str,
                      settings: RenderProfileSettings) -> RenderPlan:
    return RenderPlan.new(
        episode_id=manifest.episode_id, profile=profile, width=settings.width, height=settings.height,
        aspect=_aspect(settings.width, settings.height), fps=settings.fps,
        timing_lock_hash=manifest.timing_lock_hash,
        captions=CaptionSettings(burn_in=settings.burn_in_captions, speaker_labels=settings.speaker_labels),
        motion=dict(settings.motion), assets=resolved,
    )


def _aspect(width: int, height: int) -> str:
    a, b = width, height
    while b:
        a, b = b, a % b
    return f"{width // a}:{height // a}"
