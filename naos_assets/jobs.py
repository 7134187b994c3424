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

# What each job materializes (the asset groups: naos_assets/definitions.py).
# render_episode: the season's arc and every asset of one episode, up to the finished episode.
RENDER_EPISODE_SELECTION = AssetSelection.groups("season_plan", "episode")
# canon_check: everything the CanonDiff's approval checkpoint stands on (the Canon Gate and what it reads).
CANON_CHECK_SELECTION = AssetSelection.assets("canon_diff_approval").upstream().materializable()
SEASON_AUDIOBOOK_SELECTION = AssetSelection.assets("season_audiobook")

render_episode = define_asset_job(
    "render_episode",
    selection=RENDER_EPISODE_SELECTION,
    executor_def=naos_executor,
    config=DEFAULT_CONFIG,
    tags=SITE_TAGS,
    description="Renders one episode end to end: plan, canon, script, canon gate, voice-over, shots, the pictures "
                "and sounds they need, the clips, the mix and the finished episode. It pauses at each review "
                "checkpoint the project turns on.",
)

# The canon of an episode folds the diffs of the episodes before it: `naos render` runs this for each of them.
canon_check = define_asset_job(
    "canon_check",
    selection=CANON_CHECK_SELECTION,
    config=DEFAULT_CONFIG,
    tags=SITE_TAGS,
    executor_def=naos_executor,
    description="Everything up to the canon gate: the episode plan, its proposed canon changes, the canon so far, "
                "the context pack, the script, the gate, and the review of the canon changes.",
)

# The season's .m4b, once every episode is rendered (`naos audiobook`).
season_audiobook_job = define_asset_job(
    "season_m4b", selection=SEASON_AUDIOBOOK_SELECTION,
    config=DEFAULT_CONFIG, tags=SITE_TAGS, executor_def=naos_executor,
    description="The season as one .m4b with a chapter per episode.",
)
