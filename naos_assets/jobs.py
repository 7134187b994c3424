"""Jobs. The in-process executor by default: a multiprocess step costs seconds, an in-process one milliseconds."""

from dagster import AssetSelection, define_asset_job, in_process_executor

render_episode = define_asset_job(
    "render_episode",
    selection=AssetSelection.groups("writing", "film", "media", "render"),
    executor_def=in_process_executor,
    description="Outline -> Script -> ShotList -> AssetManifest -> RenderPlan -> shot clips -> RenderOutput.",
)
