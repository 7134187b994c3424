"""Media engine: resolve an AssetManifest against the local asset library (seed 004 §9, Phase 0)."""

from .plan import PLAN_VERSION, build_render_plan
from .preflight import check_library_paths
from .resolver import (
    DEFAULT_LICENSE,
    AssetChangedError,
    AssetMetadataError,
    AssetPathError,
    file_sha256,
    library_file,
    library_uri,
    placeholder_uri,
    placeholders,
    resolve,
    resolve_need,
    verify,
)

__all__ = [
    "DEFAULT_LICENSE",
    "PLAN_VERSION",
    "build_render_plan",
    "check_library_paths",
    "AssetChangedError",
    "AssetMetadataError",
    "AssetPathError",
    "file_sha256",
    "library_file",
    "library_uri",
    "placeholder_uri",
    "placeholders",
    "resolve",
    "resolve_need",
    "verify",
]
