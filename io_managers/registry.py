"""The artifact registry (§14): content-addressed objects, refs per asset and partition, one record per artifact.

Layout under the store's root (identical for every backend):
    objects/<sha256>                         bytes, written once (temp + rename), verified on read
    refs/<asset>/<partition>.json            which object an asset partition currently is
    records/<asset>/<partition>/<sha256>.json  how it was made: parents, params, code_version, origin, licence
                                             (written once; or rows in PostgreSQL: record_index.py)
    cache/<cache key>.json                   stage reuse: inputs' hashes + params + code_version -> object,
                                             with its size and when it was made / last used / expires (§29.3)

The cache key is a hash of inputs only (never paths or times); times live in the entry's metadata, where LRU
pruning and licence expiry read them. Objects the current refs still need ("live") are never deleted.

Plain Python: the Dagster IO manager, the `naos` CLI and the tests all use this one class.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from .record_index import RecordIndex, StoreRecordIndex

if TYPE_CHECKING:
    from .registry_check import CheckReport

CHUNK = 1 << 20


def site_id() -> str:
    """The site an artifact or run comes from (§35.1): NAOS_SITE_ID, else the host name."""
    return os.environ.get("NAOS_SITE_ID") or socket.gethostname()


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

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; a key that is already gone is not an error."""

    def size(self, key: str) -> int:
        """Bytes stored at `key` (FileNotFoundError when absent). Backends override this with a cheaper stat."""
        return len(self.get_bytes(key))

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Atomically write `data` at `key` unless the key exists: True when written, False when it already was
        (then nothing is changed). Two racing writers of one key: exactly one gets True."""

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        """`key`'s bytes in chunks, for hashing big objects without holding them (FileNotFoundError when absent)."""
        yield self.get_bytes(key)

    def temp_keys(self) -> Iterator[str]:
        """Unfinished writes a crashed writer may have left (temp files, incomplete uploads); none by default."""
        return iter(())

    def versioned(self) -> bool:
        """Whether the store keeps earlier versions of a key (an S3 bucket with versioning)."""
        return False

    def rewrites(self, folder: str) -> Iterator[tuple[str, int]]:
        """Keys under `folder` stored in several versions of different bytes, with their version count; a store
        without versions cannot tell (its check hashes the current bytes instead)."""
        return iter(())


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

    def put_if_absent(self, key: str, data: bytes) -> bool:
        # link(2) refuses an existing target, so the complete temp file appears at `key` only if nobody was first.
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, target)
            return True
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)

    def iter_bytes(self, key: str) -> Iterator[bytes]:
        with open(self._path(key), "rb") as fh:
            yield from iter(lambda: fh.read(CHUNK), b"")

    def temp_keys(self) -> Iterator[str]:
        for p in sorted(self.root.rglob(".tmp-*")):
            if p.is_file() and p.relative_to(self.root).parts[0] != "scratch":  # scratch is local, not the registry
                yield p.relative_to(self.root).as_posix()

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

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHA = re.compile(r"[0-9a-f]{64}")
_SHA_IN = re.compile(rb"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])")  # a whole sha256, not part of a longer hex run


def _utc(moment: datetime | None) -> datetime:
    """`moment` in UTC (naive means UTC); now when None."""
    if moment is None:
        return datetime.now(UTC)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat(timespec="microseconds")


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _is_json(media_type: Any) -> bool:
    mt = str(media_type or "application/json").split(";")[0].strip().lower()
    return mt == "application/json" or mt.endswith("+json")


@dataclass(frozen=True)
class CacheEntry:
    """One cache entry as stored under cache/, with legacy gaps filled (no times: epoch; no size: the object's)."""

    key: str
    sha256: str
    stage: str
    bytes: int  # size of the object (0 when the object is gone)
    created_at: datetime
    last_used: datetime  # what LRU orders by; a cache hit moves it
    expires_at: datetime | None
    live: bool  # the object is still needed by a current ref, so pruning never deletes it
    present: bool = True  # the object is in the store

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= _utc(now)


@dataclass(frozen=True)
class PruneReport:
    expired: int  # entries removed because their expires_at had passed
    evicted: int  # entries removed, least recently used first, to meet the budget
    freed_bytes: int  # bytes of the objects deleted
    kept_entries: int
    kept_bytes: int  # bytes of the objects only the cache holds after the prune (what max_bytes bounds)
    live_kept: int  # distinct live objects the kept entries point at (never deleted, not counted in the budget)
    dangling: int = 0  # entries removed because their object was already gone
    deleted_objects: tuple[str, ...] = ()


class Registry:
    def __init__(self, store: ObjectStore, scratch: str | Path | None = None, index: RecordIndex | None = None):
        self.store = store
        self.scratch = Path(scratch or tempfile.gettempdir())
        self.index = index if index is not None else StoreRecordIndex(store)  # records/ in the store by default

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
            "run_id": run_id, "created_at": _now(), "site_id": site_id(),
        }
        self.index.put(record)  # the first record of an artifact is its birth certificate: a later one is dropped
        return record

    def get_record(self, asset: str, partition: str | None, sha: str) -> dict | None:
        return self.index.get(asset, partition, sha)

    def iter_records(self, asset: str | None = None, partition: str | None = None) -> Iterator[dict]:
        """Every readable record (of `asset`, and its `partition` when given), in (asset, partition, sha256) order
        for the PostgreSQL index and key order for the store's."""
        return (r.record for r in self.index.scan(asset, partition) if r.record is not None)

    def check(self) -> CheckReport:
        """The consistency walk (refs, records, objects, temp keys, versions, audit chain): see registry_check."""
        from .registry_check import check

        return check(self)

    # ---- cache (§29.3): entries with size and times, LRU pruning, expiry, live objects kept ----------

    @staticmethod
    def _cache_file(cache_key: str) -> str:
        return f"cache/{cache_key}.json"

    def _read_entry(self, path: str) -> tuple[dict, bytes] | None:
        """An entry's fields and raw bytes; None when missing (perhaps evicted a moment ago) or unreadable."""
        try:
            raw = self.store.get_bytes(path)
            data = json.loads(raw)
        except (FileNotFoundError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sha256"), str):
            return None
        return data, raw

    def _object_size(self, sha: str) -> int | None:
        try:
            return self.store.size(f"objects/{sha}")
        except FileNotFoundError:
            return None

    def _drop_entry(self, path: str, raw: bytes) -> bool:
        """Remove an entry unless it changed since it was read as `raw` (a hit or a re-put means it is in use)."""
        current = self._read_entry(path)
        if current is not None and current[1] != raw:
            return False
        self.store.delete(path)
        return True

    def cache_get(self, cache_key: str, *, now: datetime | None = None) -> str | None:
        """The cached object's sha, or None: no entry, object gone, or expired (an expired entry is removed, and its
        object too unless live or another entry holds it). A hit records `now` as the entry's last use."""
        path = self._cache_file(cache_key)
        read = self._read_entry(path)
        if read is None:
            return None
        data, raw = read
        sha = data["sha256"]
        moment = _utc(now)
        expires = _parse_time(data.get("expires_at"))
        if expires is not None and expires <= moment:
            if self._drop_entry(path, raw):
                self._release(sha)
            return None
        if not self.has(sha):
            return None
        touched = {**data, "last_used": _iso(moment)}
        if not isinstance(data.get("bytes"), int):
            touched["bytes"] = self._object_size(sha)
        if self.store.exists(path):  # do not resurrect an entry a prune just removed
            self.store.put_bytes(path, _json(touched))
        return sha if self.has(sha) else None  # evicted meanwhile: a miss, not a dangling answer

    def cache_put(self, cache_key: str, sha: str, stage: str, *, expires_at: datetime | None = None,
                  now: datetime | None = None) -> None:
        """Point `cache_key` at object `sha`, recording its size and `now` as created and last used. `expires_at`
        (externally sourced assets: their licence term) makes the entry a miss from then on; re-putting the same
        object without one keeps the entry's creation time and expiry."""
        path = self._cache_file(cache_key)
        moment = _iso(_utc(now))
        created, expiry = moment, (_iso(expires_at) if expires_at is not None else None)
        previous = self._read_entry(path)
        if previous is not None and previous[0]["sha256"] == sha:
            created = previous[0].get("created_at") or created
            if expires_at is None:
                expiry = previous[0].get("expires_at")
        entry = {"sha256": sha, "stage": stage, "bytes": self._object_size(sha), "created_at": created,
                 "last_used": moment, "expires_at": expiry}
        self.store.put_bytes(path, _json(entry))

    def _scan_entries(self, live: set[str]) -> list[tuple[CacheEntry, str, bytes]]:
        """Every readable cache entry with its file and raw bytes, in key order."""
        found = []
        for path in self.store.list("cache"):
            if not path.endswith(".json"):
                continue
            read = self._read_entry(path)
            if read is None:
                continue
            data, raw = read
            sha = data["sha256"]
            size = data.get("bytes")
            present = self.has(sha)
            if not isinstance(size, int):  # legacy entry: ask the store
                size = self._object_size(sha) if present else None
            created = _parse_time(data.get("created_at")) or EPOCH
            entry = CacheEntry(
                key=path[len("cache/"):-len(".json")], sha256=sha, stage=str(data.get("stage") or ""),
                bytes=size or 0, created_at=created, last_used=_parse_time(data.get("last_used")) or created,
                expires_at=_parse_time(data.get("expires_at")), live=sha in live, present=present,
            )
            found.append((entry, path, raw))
        return found

    def cache_entries(self) -> list[CacheEntry]:
        """All cache entries, in key order."""
        return [entry for entry, _, _ in self._scan_entries(self.live_objects())]

    def cache_stats(self, *, now: datetime | None = None) -> dict[str, Any]:
        """Entries and bytes held by the cache. Bytes count each object once, however many entries share it;
        `cache_only_bytes` is what `cache_prune`'s budget bounds (objects no current ref needs)."""
        moment = _utc(now)
        entries = self.cache_entries()
        objects = {e.sha256: e.bytes for e in entries if e.present}
        live = {e.sha256: e.bytes for e in entries if e.present and e.live}
        stages: dict[str, dict[str, int]] = {}
        for stage in sorted({e.stage for e in entries}):
            mine = [e for e in entries if e.stage == stage]
            stage_objects = {e.sha256: e.bytes for e in mine if e.present}
            stages[stage] = {"entries": len(mine), "bytes": sum(stage_objects.values())}
        return {
            "entries": len(entries),
            "objects": len(objects),
            "bytes": sum(objects.values()),
            "live_bytes": sum(live.values()),
            "cache_only_bytes": sum(objects.values()) - sum(live.values()),
            "expired": sum(e.expired(moment) for e in entries),
            "dangling": sum(not e.present for e in entries),
            "stages": stages,
        }

    def live_objects(self) -> set[str]:
        """Objects current artifacts still need: what every ref points at, plus each sha256 named inside a ref'd
        object whose media type is JSON (a ShotClips names its clips, a RenderOutput its mp4, a VoiceOver its takes).
        One level deep: objects named only by those named objects are not followed."""
        live: set[str] = set()
        for path in self.store.list("refs"):
            if not path.endswith(".json"):
                continue
            try:
                ref = json.loads(self.store.get_bytes(path))
            except (FileNotFoundError, ValueError):
                continue
            sha = ref.get("sha256") if isinstance(ref, dict) else None
            if not isinstance(sha, str) or not _SHA.fullmatch(sha):
                continue
            live.add(sha)
            if not _is_json(ref.get("media_type")):
                continue
            try:
                data = self.store.get_bytes(f"objects/{sha}")
            except FileNotFoundError:
                continue
            live.update(m.decode() for m in _SHA_IN.findall(data))
        return live

    def _release(self, sha: str) -> int:
        """Delete an object no entry holds any more, unless it is live; the bytes freed."""
        if sha in self.live_objects() or any(e.sha256 == sha for e, _, _ in self._scan_entries(set())):
            return 0
        size = self._object_size(sha)
        if size is None:
            return 0
        self.store.delete(f"objects/{sha}")
        return size

    def cache_prune(self, max_bytes: int, *, now: datetime | None = None,
                    min_idle: timedelta | None = None) -> PruneReport:
        """Remove expired entries, then evict least recently used ones until the objects only the cache holds fit in
        `max_bytes`. An evicted entry's object is deleted once no remaining entry points at it, unless it is live
        (those are never deleted, and their entries are not evicted: that would free nothing). Entries used within
        `min_idle` of `now` are not evicted (a run in flight may be about to read them), nor is an entry that changed
        since the prune read it. Safe beside a render: a lookup racing an eviction misses."""
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        moment = _utc(now)
        live = self.live_objects()
        remaining: list[tuple[CacheEntry, str, bytes]] = []
        released: list[CacheEntry] = []
        expired = dangling = 0
        for entry, path, raw in self._scan_entries(live):
            if entry.expired(moment) and self._drop_entry(path, raw):
                expired += 1
                released.append(entry)
            elif not entry.present and not entry.expired(moment) and self._drop_entry(path, raw):
                dangling += 1
            else:
                remaining.append((entry, path, raw))

        holders = Counter(entry.sha256 for entry, _, _ in remaining)
        deleted: list[str] = []

        def release(entry: CacheEntry) -> int:
            sha = entry.sha256
            if sha in live or holders[sha] > 0 or sha in deleted or not self.has(sha):
                return 0
            self.store.delete(f"objects/{sha}")
            deleted.append(sha)
            return entry.bytes

        freed = sum(release(entry) for entry in released)
        cache_only = {e.sha256: e.bytes for e, _, _ in remaining if e.sha256 not in live and e.present}
        total = sum(cache_only.values())
        cutoff = moment - min_idle if min_idle is not None else None
        evicted: set[str] = set()
        for entry, path, raw in sorted(remaining, key=lambda r: (r[0].last_used, r[0].created_at, r[0].key)):
            if total <= max_bytes or (cutoff is not None and entry.last_used > cutoff):
                break
            if entry.live or not self._drop_entry(path, raw):
                continue
            evicted.add(entry.key)
            holders[entry.sha256] -= 1
            freed += release(entry)
            if holders[entry.sha256] == 0:
                total -= cache_only.pop(entry.sha256, 0)

        kept = [e for e, _, _ in remaining if e.key not in evicted]
        return PruneReport(
            expired=expired, evicted=len(evicted), freed_bytes=freed, kept_entries=len(kept),
            kept_bytes=sum({e.sha256: e.bytes for e in kept if not e.live and e.present}.values()),
            live_kept=len({e.sha256 for e in kept if e.live}), dangling=dangling, deleted_objects=tuple(deleted),
        )


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, indent=2).encode() + b"\n"


def cache_key(stage: str, inputs: dict[str, str], params: dict[str, Any], code_version: str) -> str:
    """Stage reuse key: hashes of the inputs' contents, the parameters and the code version; never paths or times."""
    blob = json.dumps({"stage": stage, "inputs": inputs, "params": params, "code_version": code_version},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


_REGISTRIES: dict[tuple, Registry] = {}  # per process: an S3 client costs ~50 ms to build, and steps ask per call


def registry_from_env(naos_home: str | Path, env: dict[str, str] | None = None) -> Registry:
    """The registry this deployment uses (docs/DEPLOY.md, "S3 artifact registry"): NAOS_REGISTRY=local
    ($NAOS_HOME/artifacts) or s3 (default under NAOS_PROFILE=production; the client is dagster-aws's S3Resource),
    its records index from record_index_from_env. Local scratch stays $NAOS_HOME/artifacts/scratch. Bad or missing
    settings raise ValueError naming the variable. Cached per process and settings."""
    from .record_index import record_index_from_env
    from .s3_settings import S3Settings, registry_backend

    env = dict(os.environ) if env is None else dict(env)
    root = Path(naos_home).resolve() / "artifacts"
    key = (os.getpid(), str(root), tuple(sorted((k, v) for k, v in env.items() if k.startswith(("NAOS_", "AWS_")))))
    if key not in _REGISTRIES:
        if registry_backend(env) == "s3":
            from .s3_store import S3Store

            settings = S3Settings.from_env(env)
            store: ObjectStore = S3Store(settings.bucket, settings.prefix, client=settings.resource().get_client())
        else:
            store = LocalStore(root)
        _REGISTRIES[key] = Registry(store, scratch=root / "scratch", index=record_index_from_env(env, store))
    return _REGISTRIES[key]
