"""Film adaptation engine (§8): Script -> ShotList with a timing lock, ShotList -> AssetManifest."""

from .manifest import MANIFEST_VERSION, MUSIC_BED, PROJECT_FIELDS, build_manifest
from .planner import PLANNER_VERSION, plan_shots, timing_lock_hash

__all__ = ["MANIFEST_VERSION", "MUSIC_BED", "PLANNER_VERSION", "PROJECT_FIELDS", "build_manifest", "plan_shots", "timing_lock_hash"]
