"""Watches the authored files: registers each episode the project lists as a partition, and records a new data
version of the project, arc and outline files (naos_assets/sources.py) as soon as one changes, so the UI shows the
stages that read it as stale. The cursor holds what was last recorded."""

from __future__ import annotations

import json

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from naos_assets.canon.ledger import last_versions, ledger_versions
from naos_assets.canon.ledger import observations as ledger_observations
from naos_assets.partitions import episodes
from naos_assets.sources import OUTLINE_FILE, observations, source_versions
from resources import NaosHome, NaosProject
from schemas import InputError


def _canon_before(context: SensorEvaluationContext, project: NaosProject, naos: NaosHome, known: set[str]) -> list:
    """`canon_before` where the Canon Store says something the instance has not recorded (the steps that change the
    store record it themselves; this catches a store changed by hand or a partition added since)."""
    try:
        proj = project.load()
    except InputError:  # a broken project file is observed above; its canon cannot be read
        return []
    versions = ledger_versions(naos.canon_store(), proj.id, [e.id for e in proj.episodes])
    return ledger_observations(versions, known, last_versions(context.instance, [e for e in versions if e in known]))


@sensor(minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING,
        description="Adds a partition for every episode in the project file, and observes the project, arc and "
                    "outline files and each episode's earlier canon when they change (an edit shows its stages "
                    "stale).")
def episode_partitions_sensor(context: SensorEvaluationContext, project: NaosProject, naos: NaosHome):
    versions = source_versions(project.project_file)
    try:
        seen = json.loads(context.cursor) if context.cursor else {}
    except json.JSONDecodeError:  # a cursor from before the files were observed
        seen = {}
    known = set(context.instance.get_dynamic_partitions(episodes.name))
    new = [e for e in versions[OUTLINE_FILE] if e not in known]
    events = observations(versions, known, seen) + _canon_before(context, project, naos, known)
    if not new and not events:
        return SkipReason("the project, arc and outline files and the canon are unchanged")
    # an episode added in this tick is observed in the next one, once its partition exists
    recorded = {**versions, OUTLINE_FILE: {e: v for e, v in versions[OUTLINE_FILE].items() if e in known}}
    return SensorResult(
        dynamic_partitions_requests=[episodes.build_add_request(new)] if new else [],
        asset_events=events, cursor=json.dumps(recorded, sort_keys=True))
