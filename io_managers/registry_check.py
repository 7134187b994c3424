"""The registry's consistency walk (`Registry.check()`, `naos registry check`): what a load or fault test, or an
operator after an incident, runs to know the registry is whole.

Problems it reports (kind: meaning):
    bad_ref          a ref that is not JSON or names no sha256
    missing_object   a ref whose object is not in the store
    orphan_ref       a ref with no record for its asset, partition and object (every writer records before it refs)
    bad_object_key   a key under objects/ that is not a sha256
    corrupt_object   an object whose bytes do not hash to its name (hashed streamed, never loaded whole)
    bad_record       a record that is not a JSON object, or whose fields disagree with where it is stored
    temp_key         a temp file or an unfinished multipart upload a crashed writer left behind
    rewritten_key    on a versioned S3 bucket: a write-once key (objects/, records/, audit/) with versions of
                     different bytes, i.e. a first writer that did not win
    audit_chain      the audit trail's hash chain is broken (AuditTrail.verify)

A record whose object is gone is not a problem: the cache prunes objects no ref needs, while records stay as the
history of what was made (`pruned_records` counts them). Run it while no writer is active: a write in flight can
show as a temp key, or as a ref whose record a racing step has not written yet.

Plain Python, over any ObjectStore and RecordIndex.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .record_index import ALL

if TYPE_CHECKING:
    from .registry import Registry

WRITE_ONCE = ("objects", "records", "audit")
_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class Problem:
    kind: str
    where: str  # the key (or table row) at fault
    detail: str


@dataclass
class CheckReport:
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, where: str, detail: str) -> None:
        self.problems.append(Problem(kind, where, detail))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "counts": dict(self.counts), "problems": [asdict(p) for p in self.problems]}

    def text(self) -> str:
        lines = ["registry " + ("consistent" if self.ok else f"INCONSISTENT: {len(self.problems)} problem(s)")]
        lines += [f"  {name}: {value}" for name, value in self.counts.items()]
        lines += [f"  {p.kind}: {p.where}: {p.detail}" for p in self.problems]
        return "\n".join(lines)


def _is_sha(text: Any) -> bool:
    return isinstance(text, str) and len(text) == 64 and set(text) <= _HEX


def _hash(chunks: Iterator[bytes]) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def _objects(reg: Registry, report: CheckReport) -> set[str]:
    present: set[str] = set()
    total = 0
    for key in reg.store.list("objects"):
        name = key[len("objects/"):]
        if name.startswith(".tmp-"):
            continue  # a temp key: reported as one below
        if not _is_sha(name):
            report.add("bad_object_key", key, "not a sha256 content address")
            continue
        try:
            actual, size = _hash(reg.store.iter_bytes(key))
        except FileNotFoundError:
            continue  # pruned while we walked
        present.add(name)
        total += size
        if actual != name:
            report.add("corrupt_object", key, f"its bytes hash to {actual}")
    report.counts.update(objects=len(present), object_bytes=total)
    return present


def _records(reg: Registry, report: CheckReport) -> set[tuple[str, str, str]]:
    seen: set[tuple[str, str, str]] = set()
    for item in reg.index.scan():
        record = item.record
        if record is None:
            report.add("bad_record", item.location, "not a JSON object")
            continue
        stored_as = (record.get("asset_key"), record.get("partition") or ALL, record.get("sha256"))
        if stored_as != (item.asset, item.partition, item.sha256):
            report.add("bad_record", item.location, f"says asset {stored_as[0]!r}, partition {stored_as[1]!r}, "
                       f"sha256 {stored_as[2]!r}")
            continue
        seen.add(stored_as)
    report.counts["records"] = len(seen)
    return seen


def _refs(reg: Registry, report: CheckReport, objects: set[str], records: set[tuple[str, str, str]]) -> set[str]:
    pointed: set[str] = set()
    count = 0
    for key in reg.store.list("refs"):
        count += 1
        asset, _, partition = key[len("refs/"):].removesuffix(".json").rpartition("/")
        try:
            ref = json.loads(reg.store.get_bytes(key))
        except FileNotFoundError:
            count -= 1
            continue
        except ValueError:
            ref = None
        sha = ref.get("sha256") if isinstance(ref, dict) else None
        if not key.endswith(".json") or not asset or not _is_sha(sha):
            report.add("bad_ref", key, "not a JSON ref naming a sha256")
            continue
        pointed.add(sha)
        if sha not in objects:
            report.add("missing_object", key, f"points at objects/{sha}, which is not in the store")
        if (asset, partition, sha) not in records:
            report.add("orphan_ref", key, f"no record of {asset}/{partition} for {sha}")
    report.counts["refs"] = count
    return pointed


def check(reg: Registry) -> CheckReport:
    """Walk the whole registry (see the module's docstring for what counts as a problem)."""
    from .audit import AuditError, AuditTrail

    report = CheckReport()
    objects = _objects(reg, report)
    records = _records(reg, report)
    pointed = _refs(reg, report, objects, records)
    report.counts["pruned_records"] = sum(sha not in objects and sha not in pointed for _, _, sha in records)
    report.counts["cache_entries"] = sum(1 for _ in reg.store.list("cache"))
    for key in reg.store.temp_keys():
        report.add("temp_key", key, "an unfinished write left behind")
    report.counts["versioned"] = int(reg.store.versioned())
    for folder in WRITE_ONCE:
        for key, versions in reg.store.rewrites(folder):
            report.add("rewritten_key", key, f"{versions} versions with different bytes (a write-once key)")
    trail = AuditTrail(reg)
    report.counts["audit_records"] = len(trail.record_keys())
    try:
        trail.verify()
    except (AuditError, ValueError, KeyError, TypeError) as exc:
        report.add("audit_chain", "audit/", str(exc))
    return report
