"""The artifact registry (§14) and the Dagster IO manager over it."""

from .artifact_io_manager import RegistryIOManager, load_artifact, store_artifact
from .audit import AuditError, AuditTrail, Review
from .record_index import (
    PostgresRecordIndex,
    RecordIndex,
    RecordIndexUnavailable,
    StoreRecordIndex,
    record_index_from_env,
)
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
from .registry_check import CheckReport, Problem

__all__ = [
    "AuditError",
    "AuditTrail",
    "Review",
    "CacheEntry",
    "CheckReport",
    "PostgresRecordIndex",
    "Problem",
    "RecordIndex",
    "RecordIndexUnavailable",
    "StoreRecordIndex",
    "record_index_from_env",
    "IntegrityError",
    "LocalStore",
    "ObjectStore",
    "PruneReport",
    "Registry",
    "RegistryIOManager",
    "cache_key",
    "load_artifact",
    "store_artifact",
    "sha256_file",
    "site_id",
]
