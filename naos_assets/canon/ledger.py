"""`canon_before`: what the canon of each episode is folded from, as an observable source the UI can trust.

The canon of episode N folds the CanonDiffs of the episodes before N, and Dagster 1.13 has no partition mapping
for "the earlier partitions" of a dynamic partitions definition: AllPartitionMapping made every episode's snapshot
depend on every episode's diff, so episode 1 showed "Unsynced" when episode 3's diff changed although it folds
nothing (a self-dependency needs time partitions; MultiPartitions are a cross-product; no custom mappings exist).
So the Canon Store, which holds the diffs and their review status, is the ledger: `canon_before` has one partition
per episode, and its data version there is the hash of (episode, diff content hash, status) for every earlier
episode. canon_snapshot[N] depends on canon_before[N] alone, so it goes stale exactly when what it folds changes.

The version is observed where the store changes (canon_diff, canon_gate, a reviewer's decision), so it is recorded
before any later episode's snapshot runs; the partitions sensor and `naos render` observe it too, and the UI's
"Observe sources" button recomputes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetKey, AssetObservation, AssetRecordsFilter, DataVersionsByPartition, observable_source_asset

from resources import NaosHome, NaosProject
from schemas import canonical_json, sha256_bytes

from ..partitions import episodes

CANON_BEFORE = "canon_before"
DATA_VERSION_TAG = "dagster/data_version"


def ledger_versions(store, project_id: str, order: Sequence[str]) -> dict[str, str]:
    """{episode: version} for every episode in `order`: the hash of what the episodes before it put in the store."""
    latest = store.latest_diffs(project_id)
    entries, versions = [], {}
    for episode in order:
        versions[episode] = sha256_bytes(canonical_json(entries))
        diff = latest.get(episode)
        entries = [*entries, [episode, diff[0].sha256(), diff[1]] if diff else [episode, None, None]]
    return versions


def last_versions(instance, partitions: Sequence[str]) -> dict[str, str | None]:
    """What the instance last recorded for each partition (None: never observed)."""
    out = {}
    for episode in partitions:
        records = instance.fetch_observations(
            AssetRecordsFilter(asset_key=AssetKey(CANON_BEFORE), asset_partitions=[episode]), limit=1).records
        out[episode] = records[0].asset_observation.tags.get(DATA_VERSION_TAG) if records else None
    return out


def observations(versions: dict[str, str], known: set[str], seen: dict[str, str | None]) -> list[AssetObservation]:
    """An observation for each known episode whose version differs from what was last recorded (`seen`)."""
    return [AssetObservation(asset_key=AssetKey(CANON_BEFORE), partition=episode,
                             tags={DATA_VERSION_TAG: version}, metadata={"naos/data_version": version})
            for episode, version in versions.items() if episode in known and seen.get(episode) != version]


def report_canon_before(instance, store, project_id: str, order: Sequence[str], log=None) -> list[str]:
    """Record the changed versions on `instance` now; the episodes whose canon input changed."""
    versions = ledger_versions(store, project_id, order)
    known = set(instance.get_dynamic_partitions(episodes.name))
    seen = last_versions(instance, [e for e in versions if e in known])
    events = observations(versions, known, seen)
    for event in events:  # inside a step, `log` is context.log_event: the observation joins the run's events
        if log is None:
            instance.report_runless_asset_event(event)
        else:
            log(event)
    return [e.partition for e in events]


@observable_source_asset(
    name=CANON_BEFORE, group_name="sources", partitions_def=episodes, tags={"dagster/kind/duckdb": ""},
    description="The canon changes of the episodes before this one, as the Canon Store holds them (each earlier "
                "episode's CanonDiff and its review status): an episode's canon snapshot is folded from them.")
def canon_before(project: NaosProject, naos: NaosHome) -> DataVersionsByPartition:
    proj = project.load()
    return DataVersionsByPartition(ledger_versions(naos.canon_store(), proj.id, [e.id for e in proj.episodes]))
