"""The artifact registry (§14) and the Dagster IO manager over it."""

from .artifact_io_manager import RegistryIOManager
from .registry import IntegrityError, LocalStore, ObjectStore, Registry, cache_key, sha256_file

__all__ = ["IntegrityError", "LocalStore", "ObjectStore", "Registry", "RegistryIOManager", "cache_key", "sha256_file"]
