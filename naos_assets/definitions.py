"""The NAOS code location: `dagster dev` (via workspace.yaml) and `naos render` both load these definitions."""

from dagster import BackfillPolicy, Definitions, load_assets_from_modules

from io_managers import RegistryIOManager
from resources import NaosHome, NaosProject, default_cache_max_bytes, default_naos_home, default_project_file
from sensors import (
    alert_on_failure,
    alert_on_retries,
    analytics_failure_sensor,
    analytics_success_sensor,
    approvals_sensor,
    cache_prune_sensor,
    episode_partitions_sensor,
)

from .approvals import assets as approvals
from .approvals.review import review_checkpoint
from .audio import assets as audio
from .canon import assets as canon
from .canon.ledger import canon_before
from .executors import chosen_executor, naos_executor
from .film import assets as film
from .jobs import canon_check, render_episode, season_audiobook_job
from .media import assets as media
from .narrative import assets as narrative
from .progress import naos_progress
from .publish import assets as publish
from .publish.assets import publish_episode
from .render import assets as render
from .schedules import season_schedule
from .sources import SOURCES
from .writing import assets as writing

# One run per episode partition in a backfill (UI, daemon, `dagster job backfill`; `naos backfill` does the same):
# every asset reads context.partition_key, the episode is the artifact boundary (seed 004 §29.4), and the canon of
# episode N folds the diffs before it, so episodes go one by one; a run starts in about a second (docs/OPERATIONS.md).
BACKFILL_POLICY = BackfillPolicy.multi_run(1)
ASSETS = [*load_assets_from_modules([narrative, canon, writing, approvals, audio, film, media, render, publish],
                                   backfill_policy=BACKFILL_POLICY), publish.publish, *SOURCES, canon_before]


def resources(project_file: str | None = None, naos_home: str | None = None) -> dict:
    import os

    from io_managers.s3_settings import step_io_manager_from_env

    home = naos_home or default_naos_home()
    found = {
        "project": NaosProject(project_file=project_file or default_project_file()),
        "naos": NaosHome(naos_home=home, cache_max_bytes=default_cache_max_bytes()),
        "registry": RegistryIOManager(naos_home=home),
    }
    # Outputs that are not artifacts (the per-shot fan-out) go through Dagster's `io_manager`: on the S3 registry's
    # bucket too, so a Celery worker on another host reads what a step elsewhere wrote (else files in DAGSTER_HOME).
    step_io = step_io_manager_from_env(os.environ)
    if step_io is not None:
        found["io_manager"] = step_io
    return found


def build_definitions(project_file: str | None = None, naos_home: str | None = None) -> Definitions:
    chosen_executor()  # a bad NAOS_EXECUTOR fails the code location's load, naming the variable
    return Definitions(
        assets=ASSETS,
        jobs=[render_episode, canon_check, season_audiobook_job, publish_episode, review_checkpoint],
        schedules=[season_schedule],
        sensors=[episode_partitions_sensor, cache_prune_sensor, alert_on_failure, alert_on_retries,
                 analytics_success_sensor, analytics_failure_sensor, approvals_sensor],
        resources=resources(project_file, naos_home),
        # The asset graph's "Materialize" and asset backfills launch the implicit asset job: without this it gets
        # Dagster's multiprocess default, a process per step (77-105 s for a cached episode against 4-8 s).
        executor=naos_executor,
        loggers={"naos_progress": naos_progress},
    )


defs = build_definitions()
