"""The registry's audit trail (§27.3): every review request and human decision, hash-chained.

Layout under the registry's store: `audit/<seq:08d>.json`, one record each, written once. A record holds the sha256
of the record before it (`prev`) and its own sha256 over its canonical JSON without that field, so editing,
reordering or removing a past record breaks the chain at that point and `verify()` names it. (Dropping the newest
records leaves a shorter valid chain; `naos approvals --verify` prints the head so it can be kept elsewhere.)

An append reads the trail and writes `audit/<last seq + 1>.json` with the store's `put_if_absent` (link(2) on a
local store, a conditional PUT on S3): when another writer took that number first, it reads the trail again and
tries the next one. So writers on any number of machines, sharing a scratch folder or not, never replace a record.

Plain Python: the checkpoint assets, the approvals sensor and `naos approve` all use this class.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .registry import Registry

GENESIS = "0" * 64
MAX_ATTEMPTS = 1000  # an append loses a race only to another append that succeeded; this bounds a broken store
DECISIONS = ("requested", "approved", "rejected")
FIELDS = ("project_id", "episode_id", "checkpoint", "artifact", "artifact_sha256", "decision", "by", "note",
          "run_id", "link", "details")


class AuditError(RuntimeError):
    """The audit trail's chain is broken: a past record was edited, removed or reordered."""


def _canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_sha(record: dict) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "sha256"})).hexdigest()


@dataclass(frozen=True)
class Review:
    """The state of one checkpoint for one artifact hash, as the trail's latest record for it says."""

    status: str  # "pending" | "approved" | "rejected"
    record: dict


class AuditTrail:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.store = registry.store

    def record_keys(self) -> list[str]:
        return sorted(k for k in self.store.list("audit/") if k.endswith(".json"))

    def records(self) -> list[dict]:
        return [json.loads(self.store.get_bytes(k)) for k in self.record_keys()]

    def append(self, *, project_id: str, episode_id: str, checkpoint: str, artifact: str, artifact_sha256: str,
               decision: str, by: str, note: str = "", run_id: str = "", link: str = "",
               details: dict[str, Any] | None = None, now: datetime | None = None) -> dict:
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
        if not by.strip():
            raise ValueError("an audit record needs who made it (--by)")
        body = {"at": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
                "project_id": project_id, "episode_id": episode_id, "checkpoint": checkpoint, "artifact": artifact,
                "artifact_sha256": artifact_sha256, "decision": decision, "by": by, "note": note, "run_id": run_id,
                "link": link, "details": details or {}}
        for _ in range(MAX_ATTEMPTS):
            keys = self.record_keys()
            prev = json.loads(self.store.get_bytes(keys[-1])) if keys else None
            record = {"seq": (prev["seq"] + 1) if prev else 1, "prev": prev["sha256"] if prev else GENESIS, **body}
            record["sha256"] = record_sha(record)
            if self.store.put_if_absent(f"audit/{record['seq']:08d}.json", _canonical(record) + b"\n"):
                return record
        raise AuditError(f"could not append to the audit trail in {self.store!r}: sequence number taken "
                         f"{MAX_ATTEMPTS} times in a row")

    def verify(self) -> str:
        """The head record's sha256 when every record is intact and chained; AuditError naming the first break."""
        prev = GENESIS
        for seq, key in enumerate(self.record_keys(), 1):
            record = json.loads(self.store.get_bytes(key))
            if record.get("seq") != seq or key != f"audit/{seq:08d}.json":
                raise AuditError(f"{key}: expected record {seq} here (a record was removed or renumbered)")
            if record_sha(record) != record.get("sha256"):
                raise AuditError(f"{key}: its contents no longer match its sha256 (the record was edited)")
            if record.get("prev") != prev:
                raise AuditError(f"{key}: does not follow record {seq - 1} (an earlier record was edited or replaced)")
            prev = record["sha256"]
        return prev

    # ---- reviews -------------------------------------------------------------------------------

    def review(self, project_id: str, episode_id: str, checkpoint: str, artifact_sha256: str) -> Review | None:
        """The latest request or decision for exactly this artifact hash (an approval of other bytes is void)."""
        for record in reversed(self.records()):
            if (record["project_id"], record["episode_id"], record["checkpoint"], record["artifact_sha256"]) == (
                    project_id, episode_id, checkpoint, artifact_sha256):
                status = "pending" if record["decision"] == "requested" else record["decision"]
                return Review(status, record)
        return None

    def pending(self, project_id: str, episode_id: str | None = None,
                checkpoint: str | None = None) -> list[dict]:
        """Open requests, oldest first: per episode and checkpoint, the newest request if no decision followed it
        (a request for bytes that have since changed is superseded by the newer request)."""
        open_: dict[tuple[str, str], dict | None] = {}
        for record in self.records():
            if record["project_id"] != project_id or (episode_id is not None and record["episode_id"] != episode_id) \
                    or (checkpoint is not None and record["checkpoint"] != checkpoint):
                continue
            key = (record["episode_id"], record["checkpoint"])
            if record["decision"] == "requested":
                open_[key] = record
            elif open_.get(key) is not None and open_[key]["artifact_sha256"] == record["artifact_sha256"]:
                open_[key] = None
        return sorted((r for r in open_.values() if r is not None), key=lambda r: r["seq"])
