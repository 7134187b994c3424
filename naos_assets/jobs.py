"""Jobs, all on naos_executor (naos_assets/executors.py). In-process by default (a step costs milliseconds, a spawned
process seconds); `multiprocess` in the run config (or `naos render --workers N`) renders N shots at once; `celery`
(NAOS_EXECUTOR=celery, the default under NAOS_PROFILE=production) sends each step to the Celery workers of its
queue. The default run config (UI, sensors, schedules, backfills) is the environment's choice, read at load."""

from dagster import AssetSelection, define_asset_job

from io_managers import site_id

from .executors import default_run_config, naos_executor

DEFAULT_CONFIG = default_run_config()
# §35.1: every run carries its site, whoever launches it (naos, the UI, the daemon, sensors): job tags are read at load
SITE_TAGS = {"naos/site_id": site_id()}

render_episode = define_asset_job(
    "render_episode",
    selection=AssetSelection.groups("narrative", "canon", "writing", "approvals", "audio", "film", "media", "render"),
    executor_def=naos_executor,
    config=DEFAULT_CONFIG,
    tags=SITE_TAGS,
    description="Arc/outline -> plan -> canon + context -> Script -> Canon Gate -> ShotList -> AssetManifest -> "
                "RenderPlan -> shot clips -> RenderOutput, paused at the §27 checkpoints the project turns on.",
)

# The canon of an episode folds the diffs of the episodes before it: `naos render` runs this for each of them.
canon_check = define_asset_job(
    "canon_check",
    selection=AssetSelection.groups("narrative", "canon", "writing") | AssetSelection.assets("canon_diff_approval"),
    config=DEFAULT_CONFIG,
    tags=SITE_TAGS,
    executor_def=naos_executor,
    description="Everything up to the Canon Gate: plan, CanonDiff, canon snapshot, context pack, script, gate, "
                "and the CanonDiff's approval checkpoint.",
)

# The season's .m4b, once every episode is rendered (`naos audiobook`).
season_audiobook_job = define_asset_job(
    "season_m4b", selection=AssetSelection.groups("audiobook"),
    config=DEFAULT_CONFIG, tags=SITE_TAGS, executor_def=naos_executor,
    description="The season as one .m4b with a chapter per episode.",
)
