"""Dagster IO manager over the artifact registry: every asset output is stored content-addressed.

The asset computes the hash and returns `Output(value, data_version=DataVersion(sha))` (an IO manager
cannot set the data version); here the bytes are stored once, the ref moved, and the record written
from the output metadata (`naos/parents`, `naos/params`, `naos/code_version`, `naos/cache_key`).
"""

from __future__ import annotations

from dagster import ConfigurableIOManager, InputContext, OutputContext

from schemas import CONTRACTS, Artifact

from .registry import IntegrityError, Registry, registry_from_env


def _meta(context: OutputContext, key: str, default=None):
    value = context.output_metadata.get(key, default)
    return getattr(value, "value", value)  # MetadataValue wrappers -> plain values


def store_artifact(registry: Registry, asset: str, partition: str | None, obj: Artifact, *, parents: dict,
                   params: dict, code_version: str, run_id: str, provenance: dict | None = None,
                   key: str | None = None) -> str:
    """Store an artifact's bytes once, its registry record (parents, params, code version), then move its ref; the
    IO manager does this for every asset output, an op that reports an external asset (publish) does it itself."""
    sha = registry.put_bytes(obj.canonical_bytes())
    registry.put_record(asset, partition, sha, schema_version=obj.schema_version, parents=parents, params=params,
                        code_version=code_version, media_type="application/json", run_id=run_id,
                        provenance=provenance or {})
    registry.set_ref(asset, partition, sha, type(obj).__name__, obj.schema_version)
    if key:
        registry.cache_put(key, sha, asset)
    return sha


def load_artifact(registry: Registry, asset: str, partition: str | None) -> Artifact:
    """The artifact an asset's ref points at, as its contract (IntegrityError when it was never materialized)."""
    ref = registry.get_ref(asset, partition)
    if ref is None:
        raise IntegrityError(f"{asset} has no artifact for partition {partition!r}: materialize it first")
    return CONTRACTS[ref["contract"]].model_validate_json(registry.get_bytes(ref["sha256"]))


def _asset_name(context: OutputContext | InputContext) -> str:
    return "/".join(context.asset_key.path)


class RegistryIOManager(ConfigurableIOManager):
    """Stores NAOS artifacts (pydantic contracts) in this deployment's registry (registry_from_env: local
    `<naos_home>/artifacts` or S3)."""

    naos_home: str

    def registry(self) -> Registry:
        return registry_from_env(self.naos_home)

    def handle_output(self, context: OutputContext, obj: Artifact) -> None:
        if not isinstance(obj, Artifact):
            raise TypeError(f"{_asset_name(context)}: the registry stores NAOS artifacts, got {type(obj).__name__}")
        partition = context.asset_partition_key if context.has_asset_partitions else None  # unpartitioned in a partitioned run: None
        store_artifact(self.registry(), _asset_name(context), partition, obj,
                       parents=_meta(context, "naos/parents", {}) or {}, params=_meta(context, "naos/params", {}) or {},
                       code_version=_meta(context, "naos/code_version", "") or "", run_id=context.run_id,
                       provenance=_meta(context, "naos/provenance", {}) or {}, key=_meta(context, "naos/cache_key"))

    def load_input(self, context: InputContext) -> Artifact:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        return load_artifact(self.registry(), _asset_name(context), partition)
