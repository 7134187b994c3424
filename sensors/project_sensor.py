"""Watches the project file and registers each listed episode as a partition (cursor = the file's hash)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dagster import DefaultSensorStatus, SensorEvaluationContext, SensorResult, SkipReason, sensor

from naos_assets.partitions import episodes
from resources import NaosProject
from schemas import InputError


@sensor(minimum_interval_seconds=15, default_status=DefaultSensorStatus.RUNNING,
        description="Adds a partition for every episode listed in the project file.")
def episode_partitions_sensor(context: SensorEvaluationContext, project: NaosProject):
    path = Path(project.project_file)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if digest == context.cursor:
        return SkipReason("project file unchanged")
    try:
        proj = project.load()
    except InputError as exc:
        context.update_cursor(digest)
        return SkipReason(f"project file is invalid: {exc}")
    known = set(context.instance.get_dynamic_partitions(episodes.name))
    new = [e.id for e in proj.episodes if e.id not in known]
    return SensorResult(
        dynamic_partitions_requests=[episodes.build_add_request(new)] if new else [],
        cursor=digest,
    )
