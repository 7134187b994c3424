"""The NAOS code location: `dagster dev` (via workspace.yaml) and `naos render` both load these definitions."""

import inspect
import os
import warnings
from collections.abc import Callable, Sequence

from dagster import (
    AssetsDefinition,
    AssetSpec,
    BetaWarning,
    CodeReferencesMetadataValue,
    Definitions,
    LocalFileCodeReference,
    SourceAsset,
    load_assets_from_modules,
    with_source_code_references,
)
from dagster._core.definitions.external_asset import create_external_asset_from_source_asset

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

# No BackfillPolicy: without one an asset backfill (UI, daemon) makes one run per episode, tagged
# `dagster/partition` and requested in id order, so each episode's checks are filed under its partition (a
# policy's one-partition "range" runs file them under none in Dagster 1.13). dagster.yaml starts a backfill's runs
# one at a time, oldest first: season order, which the canon needs (docs/OPERATIONS.md, "Backfills").
ASSETS = [*load_assets_from_modules([narrative, canon, writing, approvals, audio, film, media, render, publish]),
          publish.publish, *SOURCES, canon_before]

# The lineage reads left to right, one group per phase an operator acts on (each decorator names its group):
#   sources      the authored files and the Canon Store's ledger, observed (project_file, human_checkpoints,
#                story_arc_file, outline_file, canon_before)
#   season_plan  the season's story arc, made once for every episode (story_arc)
#   episode      everything one episode is made of, in pipeline order, each review checkpoint beside the step it
#                gates: episode_plan, canon_diff, canon_snapshot, context_pack, script, canon_gate,
#                canon_diff_approval, voice_over, shot_list, shotlist_timing_lock, recording_packet, asset_manifest,
#                external_spend_approval, render_plan, character_pack_approval, shot_clips, episode_audio,
#                render_output. "Materialize all" on this group renders an episode (pick its partition).
#   season       what is made from the whole season once every episode is rendered (season_audiobook)
#   publish      the one-way publish, reported by the publish_episode job only (publish)

# Who answers for each asset (Dagster owners: the catalog and the lineage filter on them, `owner:"team:sound"`).
# A checkpoint belongs to the team whose work it reviews and to ops, who keep the review queue moving.
OWNERS = {
    "team:story": ["project_file", "story_arc_file", "outline_file", "canon_before", "story_arc", "episode_plan",
                   "canon_diff", "canon_snapshot", "context_pack", "script", "canon_gate", "canon_diff_approval"],
    "team:sound": ["voice_over", "recording_packet", "episode_audio", "season_audiobook"],
    "team:picture": ["shot_list", "shotlist_timing_lock", "asset_manifest", "render_plan", "character_pack_approval",
                     "shot_clips", "render_output"],
    "team:ops": ["human_checkpoints", "canon_diff_approval", "shotlist_timing_lock", "external_spend_approval", "character_pack_approval",
                 "publish"],
}


def owners_of(name: str) -> list[str]:
    found = [team for team, names in OWNERS.items() if name in names]
    if not found:
        raise ValueError(f"asset {name} has no owner: add it to OWNERS in naos_assets/definitions.py")
    return found


def _code_reference(fn: Callable, label: str | None = None) -> LocalFileCodeReference:
    """Where `fn` is defined, as the UI's code reference link (a local file and line: the repository has no remote)."""
    return LocalFileCodeReference(file_path=os.path.abspath(inspect.getsourcefile(fn) or ""),
                                  line_number=inspect.getsourcelines(fn)[1], label=label)


def catalog(assets: Sequence) -> list[AssetsDefinition | AssetSpec]:
    """The assets as the UI catalogs them: each with its owners and a code reference (the file and line that makes
    it). An observable source becomes the external asset Dagster would turn it into anyway, since a SourceAsset
    cannot carry owners; `publish` (reported by the publish_episode job) points at the op that reports it."""
    out: list[AssetsDefinition | AssetSpec] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # code references are a beta API in 1.13.27; chosen on purpose
        warnings.simplefilter("ignore", DeprecationWarning)  # Dagster's source conversion reads OpDefinition.version
        for a in assets:
            if isinstance(a, SourceAsset):
                refs = {"dagster/code_references": CodeReferencesMetadataValue(
                    code_references=[_code_reference(a.observe_fn)])} if a.observe_fn else {}
                out.append(create_external_asset_from_source_asset(a).map_asset_specs(
                    lambda s, refs=refs: s.merge_attributes(owners=owners_of(s.key.to_user_string()), metadata=refs)))
            elif isinstance(a, AssetSpec):
                reporter, job = {"publish": (publish.publish_op, publish.publish_episode)}[a.key.to_user_string()]
                refs = CodeReferencesMetadataValue(code_references=[_code_reference(
                    reporter.compute_fn.decorated_fn, f"reported by the {job.name} job")])
                out.append(a.merge_attributes(owners=owners_of(a.key.to_user_string()),
                                              metadata={"dagster/code_references": refs}))
            else:
                (referenced,) = with_source_code_references([a])
                out.append(referenced.map_asset_specs(
                    lambda s: s.merge_attributes(owners=owners_of(s.key.to_user_string()))))
    return out


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
        assets=catalog(ASSETS),
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
