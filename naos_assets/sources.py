"""The authored files as observable source assets, so the UI shows an edit as stale at once.

`project_file`, `story_arc_file` and `outline_file` (one partition per episode) have a data version: the hash of
what the file says (its canonical content, so a comment or re-indent changes nothing; the raw bytes when it does not
parse, so a broken edit still shows). The project's `human_checkpoints:` section is a source of its own, read only
by the review checkpoints: turning a checkpoint on or off leaves every other stage in sync. The stages that read a file depend on it, and Dagster marks them "Unsynced"
when the observed version differs from the one they were made from. Observations come from the
`episode_partitions_sensor` (every 15 s, only what changed), from `naos render` before each run, and from the UI's
"Observe sources" button.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dagster import (
    AssetKey,
    AssetObservation,
    DataVersion,
    DataVersionsByPartition,
    observable_source_asset,
)

from resources import NaosProject
from schemas import InputError, canonical_json, sha256_bytes

from .partitions import episodes

PROJECT_FILE, ARC_FILE, OUTLINE_FILE = "project_file", "story_arc_file", "outline_file"
HUMAN_CHECKPOINTS = "human_checkpoints"  # the project file's section of that name, versioned on its own
DATA_VERSION_TAG = "dagster/data_version"  # what an observable source asset's observation carries
NONE = "none"  # the file is not used (no story_arc: in the project, or an episode without an outline)


def _raw(path: Path) -> str:
    return "unreadable:" + (hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing")


def source_versions(project_file: str | Path) -> dict[str, str | dict[str, str]]:
    """{project_file: v, human_checkpoints: v, story_arc_file: v, outline_file: {episode: v}} as the files stand
    now. project_file's version leaves out human_checkpoints, which has its own."""
    from engines.writing import load_project
    from engines.writing.inputs import load_outline
    from engines.writing.plan import load_story_arc

    path = Path(project_file)
    try:
        project = load_project(path)
    except InputError:
        return {PROJECT_FILE: _raw(path), HUMAN_CHECKPOINTS: _raw(path), ARC_FILE: NONE, OUTLINE_FILE: {}}
    data = project.model_dump(mode="json")
    checkpoints = data.pop(HUMAN_CHECKPOINTS)
    versions: dict = {PROJECT_FILE: sha256_bytes(canonical_json(data)),
                      HUMAN_CHECKPOINTS: sha256_bytes(canonical_json(checkpoints))}
    try:
        versions[ARC_FILE] = load_story_arc(project, path)[1] or NONE
    except InputError:
        versions[ARC_FILE] = _raw(path.parent / (project.story_arc or ""))
    outlines = {}
    for episode in project.episodes:
        try:
            outlines[episode.id] = load_outline(project, path, episode.id)[1] or NONE
        except InputError:
            outlines[episode.id] = _raw(path.parent / (episode.outline or ""))
    versions[OUTLINE_FILE] = outlines
    return versions


def observations(versions: dict, known: set[str], seen: dict | None = None) -> list[AssetObservation]:
    """An observation for every source whose version differs from `seen` (all when None), for episodes in `known`."""
    seen = seen or {}
    events = [AssetObservation(asset_key=AssetKey(name), tags={DATA_VERSION_TAG: versions[name]},
                               metadata={"naos/data_version": versions[name]})
              for name in (PROJECT_FILE, HUMAN_CHECKPOINTS, ARC_FILE) if versions[name] != seen.get(name)]
    before = seen.get(OUTLINE_FILE, {})
    events += [AssetObservation(asset_key=AssetKey(OUTLINE_FILE), partition=episode,
                                tags={DATA_VERSION_TAG: version}, metadata={"naos/data_version": version})
               for episode, version in sorted(versions[OUTLINE_FILE].items())
               if episode in known and version != before.get(episode)]
    return events


def report(instance, project_file: str | Path) -> int:
    """Record the files' versions on `instance` now (what `naos render` does before a run); how many changed."""
    from dagster import AssetRecordsFilter

    versions = source_versions(project_file)
    known = set(instance.get_dynamic_partitions(episodes.name))
    fresh = 0
    for event in observations(versions, known):
        records = instance.fetch_observations(
            AssetRecordsFilter(asset_key=event.asset_key,
                               asset_partitions=[event.partition] if event.partition else None), limit=1).records
        last = records[0].asset_observation.tags.get(DATA_VERSION_TAG) if records else None
        if last != event.tags[DATA_VERSION_TAG]:
            instance.report_runless_asset_event(event)
            fresh += 1
    return fresh


_TAGS = {"dagster/kind/yaml": ""}


@observable_source_asset(name=PROJECT_FILE, group_name="sources", tags=_TAGS,
                         description="The project file (characters, voices, settings) but its human_checkpoints: "
                                     "every stage reads it.")
def project_file(project: NaosProject) -> DataVersion:
    return DataVersion(source_versions(project.project_file)[PROJECT_FILE])


@observable_source_asset(name=HUMAN_CHECKPOINTS, group_name="sources", tags=_TAGS,
                         description="The project file's human_checkpoints: which reviews an episode waits for. "
                                     "Only the review checkpoints read it.")
def human_checkpoints(project: NaosProject) -> DataVersion:
    return DataVersion(source_versions(project.project_file)[HUMAN_CHECKPOINTS])


@observable_source_asset(name=ARC_FILE, group_name="sources", tags=_TAGS,
                         description="The season's story arc file (`story_arc:` in the project), if there is one.")
def story_arc_file(project: NaosProject) -> DataVersion:
    return DataVersion(source_versions(project.project_file)[ARC_FILE])


@observable_source_asset(name=OUTLINE_FILE, group_name="sources", tags=_TAGS, partitions_def=episodes,
                         description="Each episode's outline file (`outline:` in the project), if it has one.")
def outline_file(project: NaosProject) -> DataVersionsByPartition:
    return DataVersionsByPartition(source_versions(project.project_file)[OUTLINE_FILE])


SOURCES = [project_file, human_checkpoints, story_arc_file, outline_file]
