"""The artifact registry (§14): content-addressed objects, refs per asset and partition, one record per artifact.

Layout under the store's root (identical for every backend):
    objects/<sha256>                         bytes, written once (temp + rename), verified on read
    refs/<asset>/<partition>.json            which object an asset partition currently is
    records/<asset>/<partition>/<sha256>.json  how it was made: parents, params, code_version, origin, licence
    cache/<cache key>.json                   stage reuse: inputs' hashes + params + code_version -> object

Plain Python: the Dagster IO manager, the `naos` CLI and the tests all use this one class.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 1 << 20


class IntegrityError(RuntimeError):
    """An object's bytes no longer match its content address."""


class ObjectStore(ABC):
    """Where the registry keeps bytes. Keys are '/'-separated relative names."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Atomically write `data` at `key` (readers see all of it or nothing)."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Atomically copy a local file to `key`, streaming."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def local_path(self, key: str, scratch: Path) -> Path:
        """A local file holding `key`'s bytes (the object itself where the store is local, else a copy in scratch)."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[str]: ...


class LocalStore(ObjectStore):
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    @contextlib.contextmanager
    def _writer(self, key: str) -> Iterator[BinaryIO]:
        """A file handle whose bytes appear at `key` only once complete (temp file, fsync, rename)."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._writer(key) as fh:
            fh.write(data)

    def put_file(self, key: str, path: Path) -> None:
        with self._writer(key) as out, open(path, "rb") as src:
            shutil.copyfileobj(src, out, CHUNK)

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def local_path(self, key: str, scratch: Path) -> Path:
        return self._path(key)

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix)
        if not base.exists():
            return
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.startswith(".tmp-"):
                yield p.relative_to(self.root).as_posix()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Registry:
    def __init__(self, store: ObjectStore, scratch: str | Path | None = None):
        self.store = store
        self.scratch = Path(scratch or tempfile.gettempdir())

    @classmethod
    def local(cls, root: str | Path) -> Registry:
        root = Path(root)
        return cls(LocalStore(root), scratch=root / "scratch")

    # ---- objects -----------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.store.exists(f"objects/{sha}"):  # write once: same address, same bytes
            self.store.put_bytes(f"objects/{sha}", data)
        return sha

    def put_file(self, path: str | Path) -> str:
        path = Path(path)
        sha = sha256_file(path)
        if not self.store.exists(f"objects/{sha}"):
            self.store.put_file(f"objects/{sha}", path)
        return sha

    def has(self, sha: str) -> bool:
        return self.store.exists(f"objects/{sha}")

    def get_bytes(self, sha: str) -> bytes:
        data = self.store.get_bytes(f"objects/{sha}")
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise IntegrityError(f"registry object {sha} is corrupt: its bytes hash to {actual}")
        return data

    def path(self, sha: str, verify: bool = True) -> Path:
        """A local path to the object's bytes, verified against its address."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        p = self.store.local_path(f"objects/{sha}", self.scratch)
        if verify and sha256_file(p) != sha:
            raise IntegrityError(f"registry object {sha} is corrupt: its bytes no longer match their hash")
        return p

    def export(self, sha: str, dest: str | Path) -> Path:
        """Copy an object to dest atomically (temp + rename), verifying it on the way."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as out, open(self.path(sha, verify=False), "rb") as src:
                for chunk in iter(lambda: src.read(CHUNK), b""):
                    h.update(chunk)
                    out.write(chunk)
            if h.hexdigest() != sha:
                raise IntegrityError(f"registry object {sha} is corrupt: its bytes no longer match their hash")
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    # ---- refs, records, cache ------------------------------------------------------------------

    @staticmethod
    def _name(asset: str, partition: str | None) -> str:
        return f"{asset}/{partition or '__all__'}"

    def set_ref(self, asset: str, partition: str | None, sha: str, contract: str | None, schema_version: str | None,
                media_type: str = "application/json") -> None:
        if not self.has(sha):
            raise IntegrityError(f"cannot point {asset}/{partition} at {sha}: the object is not in the registry")
        ref = {"sha256": sha, "contract": contract, "schema_version": schema_version, "media_type": media_type}
        self.store.put_bytes(f"refs/{self._name(asset, partition)}.json", _json(ref))

    def get_ref(self, asset: str, partition: str | None) -> dict | None:
        key = f"refs/{self._name(asset, partition)}.json"
        if not self.store.exists(key):
            return None
        return json.loads(self.store.get_bytes(key))

    def put_record(self, asset: str, partition: str | None, sha: str, *, schema_version: str | None,
                   parents: dict[str, str], params: dict[str, Any], code_version: str, media_type: str,
                   compute_origin: str = "local", run_id: str | None = None,
                   provenance: dict[str, Any] | None = None) -> dict:
        record = {
            "sha256": sha, "schema_version": schema_version, "asset_key": asset, "partition": partition,
            "parents": dict(sorted(parents.items())), "params": params, "code_version": code_version,
            "compute_origin": compute_origin, "media_type": media_type, "provenance": provenance or {},
            "run_id": run_id, "created_at": _now(),
        }
        key = f"records/{self._name(asset, partition)}/{sha}.json"
        if not self.store.exists(key):  # the first record of an artifact is its birth certificate
            self.store.put_bytes(key, _json(record))
        return record

    def get_record(self, asset: str, partition: str | None, sha: str) -> dict | None:
        key = f"records/{self._name(asset, partition)}/{sha}.json"
        return json.loads(self.store.get_bytes(key)) if self.store.exists(key) else None

    def cache_get(self, cache_key: str) -> str | None:
        key = f"cache/{cache_key}.json"
        if not self.store.exists(key):
            return None
        sha = json.loads(self.store.get_bytes(key))["sha256"]
        return sha if self.has(sha) else None

    def cache_put(self, cache_key: str, sha: str, stage: str) -> None:
        self.store.put_bytes(f"cache/{cache_key}.json", _json({"sha256": sha, "stage": stage}))


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, indent=2).encode() + b"\n"


def cache_key(stage: str, inputs: dict[str, str], params: dict[str, Any], code_version: str) -> str:
    """Stage reuse key: hashes of the inputs' contents, the parameters and the code version; never paths or times."""
    blob = json.dumps({"stage": stage, "inputs": inputs, "params": params, "code_version": code_version},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
