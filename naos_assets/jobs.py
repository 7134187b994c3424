"""Jobs. In-process by default (a step costs milliseconds, a spawned process seconds); `multiprocess` in the run
config (or `naos render --workers N`) renders N shots at once."""

from dagster import AssetSelection, define_asset_job, multi_or_in_process_executor

render_episode = define_asset_job(
    "render_episode",
    selection=AssetSelection.groups("writing", "film", "media", "render"),
    executor_def=multi_or_in_process_executor,
    config={"execution": {"config": {"in_process": {}}}},
    description="Outline -> Script -> ShotList -> AssetManifest -> RenderPlan -> shot clips -> RenderOutput.",
)
