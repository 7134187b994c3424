"""The artifact registry (§14) and the Dagster IO manager over it."""

from .artifact_io_manager import RegistryIOManager
from .audit import AuditError, AuditTrail, Review
from .registry import (
    CacheEntry,
    IntegrityError,
    LocalStore,
    ObjectStore,
    PruneReport,
    Registry,
    cache_key,
    sha256_file,
    site_id,
)

__all__ = [
    "AuditError",
    "AuditTrail",
    "Review",
    "CacheEntry",
    "IntegrityError",
    "LocalStore",
    "ObjectStore",
    "PruneReport",
    "Registry",
    "RegistryIOManager",
    "cache_key",
    "sha256_file",
    "site_id",
]
