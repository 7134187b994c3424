"""Film adaptation engine (§8): Script -> ShotList with a timing lock, ShotList -> AssetManifest."""

from .manifest import MANIFEST_VERSION, MUSIC_BED, build_manifest
from .planner import PLANNER_VERSION, plan_shots, timing_lock_hash

__all__ = ["MANIFEST_VERSION", "MUSIC_BED", "PLANNER_VERSION", "build_manifest", "plan_shots", "timing_lock_hash"]
