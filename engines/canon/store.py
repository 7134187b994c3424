"""The Canon Store (seed 004 §6.1, §18.3): canon snapshots and CanonDiffs with their approvals.

`CanonStore` is the interface; `DuckDBCanonStore` keeps it in one DuckDB file, a PostgreSQL store can implement the
same methods later. Snapshots are stored as rows of a fact table, one row per (item, field) of the Canon, e.g.
`('characters', 0, 'mara', 'status', '"alive"')`, and rebuilt from them; a snapshot loads back byte-identical (the
same sha256, checked on every load). CanonDiffs are stored the same way, their approvals as an append-only history.
A CanonDiff holds the changes only; which EpisodePlan it was proposed from is the store's record (`episode_plan`),
so a plan edit that changes no fact keeps the diff, its hash and its approval.

DuckDB lets one process at a time open a file for writing, and concurrent Dagster runs share the file: every
operation holds an exclusive flock on `<db>.lock` around one short-lived connection (open, work, close).
"""

from __future__ import annotations

import fcntl
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa

from schemas import Artifact, Canon, CanonDiff, NaosModel

Status = Literal["pending", "approved", "rejected"]
STATUSES = ("pending", "approved", "rejected")
INITIAL = ""  # episode_key of the initial canon (as_of_episode None)


class StatusRecord(NaosModel):
    status: Status
    approver: str
    note: str = ""


class CanonStore(ABC):
    """Canon snapshots by (project, episode) and CanonDiffs by (project, episode, sha256) with their status."""

    @abstractmethod
    def save_snapshot(self, canon: Canon) -> str:
        """Store `canon` as the snapshot of (project_id, as_of_episode); returns its sha256."""

    @abstractmethod
    def load_snapshot(self, project_id: str, as_of_episode: str | None) -> Canon:
        """The last snapshot saved for (project_id, as_of_episode); LookupError if there is none."""

    @abstractmethod
    def record_diff(self, diff: CanonDiff, *, episode_plan: str | None = None, proposer: str = "") -> str:
        """Store a CanonDiff (idempotent); its status starts as diff.approval_status, recorded by `proposer`.
        `episode_plan`: the sha256 of the plan it was proposed from, kept as the episode's current plan. Returns
        the diff's sha256."""

    @abstractmethod
    def episode_plan(self, project_id: str, episode_id: str) -> str | None:
        """The sha256 of the EpisodePlan the episode's latest proposal came from (None: never recorded)."""

    @abstractmethod
    def set_status(self, project_id: str, episode_id: str, diff_sha: str, status: Status, approver: str,
                   note: str = "") -> None:
        """Approve, reject or reset a recorded diff, recording who did it and why."""

    @abstractmethod
    def diff_status(self, project_id: str, episode_id: str, diff_sha: str) -> str | None:
        """The current status of a recorded diff; None if it was never recorded."""

    @abstractmethod
    def status_history(self, project_id: str, episode_id: str, diff_sha: str) -> list[StatusRecord]:
        """Every status a recorded diff had, oldest first."""

    @abstractmethod
    def reviewed(self, project_id: str) -> set[str]:
        """The sha256 of every diff of the project that has a verdict (the gate's or a person's) beyond its proposal."""

    @abstractmethod
    def latest_diffs(self, project_id: str) -> dict[str, tuple[CanonDiff, str]]:
        """Per episode (sorted by id), the most recently recorded diff as recorded, and its current status."""

    def diffs_for_fold(self, project_id: str) -> list[CanonDiff]:
        """latest_diffs with each diff's approval_status set to its current status: what `fold` takes."""
        return [diff if diff.approval_status == status else diff.model_copy(update={"approval_status": status})
                for diff, status in self.latest_diffs(project_id).values()]


# ---- a model as rows and back ---------------------------------------------------------------------------------------

_SUBJECT_FIELDS = ("id", "subject", "character", "source", "episode_id")


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def model_rows(model: Artifact, header: str) -> list[tuple[str, int, str, str, str]]:
    """(kind, position, subject, attribute, value_json) rows of a model: one per field of each list item, one per
    list item of plain values (attribute ''), and one per top-level field under kind `header`."""
    rows: list[tuple[str, int, str, str, str]] = []
    data = model.model_dump(mode="json")
    top = str(data.get("project_id", ""))
    for name, value in data.items():
        if not isinstance(value, list):
            rows.append((header, 0, top, name, _json(value)))
            continue
        for i, item in enumerate(value):
            if isinstance(item, dict):
                subject = next((str(item[k]) for k in _SUBJECT_FIELDS if item.get(k) is not None), "")
                rows.extend((name, i, subject, attribute, _json(v)) for attribute, v in item.items())
            else:
                rows.append((name, i, item if isinstance(item, str) else "", "", _json(item)))
    return rows


def rebuild(rows: list[tuple[str, int, str, str]], header: str) -> dict:
    """The model_dump a list of (kind, position, attribute, value_json) rows came from."""
    data: dict = {}
    lists: dict[str, dict[int, dict | object]] = {}
    for kind, position, attribute, value_json in rows:
        value = json.loads(value_json)
        if kind == header:
            data[attribute] = value
        elif attribute == "":
            lists.setdefault(kind, {})[position] = value
        else:
            lists.setdefault(kind, {}).setdefault(position, {})[attribute] = value
    for kind, items in lists.items():
        data[kind] = [items[i] for i in sorted(items)]
    return data


_ROW_SCHEMA = pa.schema([("owner", pa.string()), ("kind", pa.string()), ("position", pa.int32()),
                         ("subject", pa.string()), ("attribute", pa.string()), ("value_json", pa.string())])

_TABLES = """
CREATE TABLE IF NOT EXISTS canon_snapshots (
    sha256 VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, as_of_episode VARCHAR, schema_version VARCHAR NOT NULL,
    fact_rows INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS canon_snapshot_refs (
    project_id VARCHAR NOT NULL, episode_key VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (project_id, episode_key));
CREATE TABLE IF NOT EXISTS canon_facts (
    snapshot_sha VARCHAR NOT NULL, kind VARCHAR NOT NULL, position INTEGER NOT NULL, subject VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL, value_json VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS canon_diffs (
    sha256 VARCHAR PRIMARY KEY, project_id VARCHAR NOT NULL, episode_id VARCHAR NOT NULL, seq INTEGER NOT NULL,
    schema_version VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS canon_diff_facts (
    diff_sha VARCHAR NOT NULL, kind VARCHAR NOT NULL, position INTEGER NOT NULL, subject VARCHAR NOT NULL,
    attribute VARCHAR NOT NULL, value_json VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS canon_diff_status (
    diff_sha VARCHAR NOT NULL, seq INTEGER NOT NULL, status VARCHAR NOT NULL, approver VARCHAR NOT NULL,
    note VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS canon_episode_plans (
    project_id VARCHAR NOT NULL, episode_id VARCHAR NOT NULL, plan_sha VARCHAR NOT NULL, diff_sha VARCHAR NOT NULL,
    PRIMARY KEY (project_id, episode_id));
"""


class DuckDBCanonStore(CanonStore):
    """The Canon Store in one DuckDB file (created with its tables on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock_path = Path(f"{self.path}.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(_TABLES)

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One short-lived connection under the exclusive file lock; a failed operation is rolled back whole."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            con = duckdb.connect(str(self.path))
            try:
                con.begin()
                try:
                    yield con
                except BaseException:
                    con.rollback()
                    raise
                con.commit()
            finally:
                con.close()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @staticmethod
    def _insert_rows(con: duckdb.DuckDBPyConnection, table: str, owner_column: str, owner: str,
                     rows: list[tuple[str, int, str, str, str]]) -> None:
        columns = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
        batch = pa.Table.from_arrays(
            [pa.array([owner] * len(rows), pa.string()), pa.array(columns[0], pa.string()),
             pa.array(columns[1], pa.int32()), pa.array(columns[2], pa.string()), pa.array(columns[3], pa.string()),
             pa.array(columns[4], pa.string())], schema=_ROW_SCHEMA)
        con.register("naos_rows", batch)
        try:
            con.execute(f"INSERT INTO {table} ({owner_column}, kind, position, subject, attribute, value_json) "
                        f"SELECT owner, kind, position, subject, attribute, value_json FROM naos_rows")
        finally:
            con.unregister("naos_rows")

    @staticmethod
    def _next_seq(con: duckdb.DuckDBPyConnection, table: str) -> int:
        return con.execute(f"SELECT coalesce(max(seq), 0) + 1 FROM {table}").fetchone()[0]

    # ---- snapshots ---------------------------------------------------------------------------------------------

    def save_snapshot(self, canon: Canon) -> str:
        sha = canon.sha256()
        rows = model_rows(canon, "canon")
        key = canon.as_of_episode or INITIAL
        with self._connect() as con:
            if con.execute("SELECT 1 FROM canon_snapshots WHERE sha256 = ?", [sha]).fetchone() is None:
                con.execute("INSERT INTO canon_snapshots VALUES (?, ?, ?, ?, ?)",
                            [sha, canon.project_id, canon.as_of_episode, canon.schema_version, len(rows)])
                self._insert_rows(con, "canon_facts", "snapshot_sha", sha, rows)
            seq = self._next_seq(con, "canon_snapshot_refs")
            con.execute("INSERT INTO canon_snapshot_refs VALUES (?, ?, ?, ?) ON CONFLICT (project_id, episode_key) "
                        "DO UPDATE SET sha256 = excluded.sha256, seq = excluded.seq",
                        [canon.project_id, key, sha, seq])
        return sha

    def load_snapshot(self, project_id: str, as_of_episode: str | None) -> Canon:
        with self._connect() as con:
            ref = con.execute("SELECT sha256 FROM canon_snapshot_refs WHERE project_id = ? AND episode_key = ?",
                              [project_id, as_of_episode or INITIAL]).fetchone()
            if ref is None:
                what = f"as of {as_of_episode}" if as_of_episode else "initial"
                raise LookupError(f"{self.path}: no {what} canon snapshot of project {project_id!r}")
            sha = ref[0]
            rows = con.execute("SELECT kind, position, attribute, value_json FROM canon_facts WHERE snapshot_sha = ?",
                               [sha]).fetchall()
        data = rebuild(rows, "canon")
        canon = Canon.model_validate(data)
        if canon.sha256() != sha and canon.schema_version == data.get("schema_version"):  # an upgraded one differs
            raise ValueError(f"{self.path}: canon snapshot {sha} of project {project_id!r} does not load back to "
                             f"its sha256 (got {canon.sha256()}); the store is damaged")
        return canon

    # ---- diffs ------------------------------------------------------------------------------------------------

    def record_diff(self, diff: CanonDiff, *, episode_plan: str | None = None, proposer: str = "") -> str:
        sha = diff.sha256()
        with self._connect() as con:
            if episode_plan is not None:
                con.execute("INSERT INTO canon_episode_plans VALUES (?, ?, ?, ?) ON CONFLICT (project_id, episode_id) "
                            "DO UPDATE SET plan_sha = excluded.plan_sha, diff_sha = excluded.diff_sha",
                            [diff.project_id, diff.episode_id, episode_plan, sha])
            if con.execute("SELECT 1 FROM canon_diffs WHERE sha256 = ?", [sha]).fetchone() is not None:
                return sha
            con.execute("INSERT INTO canon_diffs VALUES (?, ?, ?, ?, ?)",
                        [sha, diff.project_id, diff.episode_id, self._next_seq(con, "canon_diffs"),
                         diff.schema_version])
            self._insert_rows(con, "canon_diff_facts", "diff_sha", sha, model_rows(diff, "diff"))
            con.execute("INSERT INTO canon_diff_status VALUES (?, ?, ?, ?, ?)",
                        [sha, self._next_seq(con, "canon_diff_status"), diff.approval_status, proposer, "recorded"])
        return sha

    def episode_plan(self, project_id: str, episode_id: str) -> str | None:
        with self._connect() as con:
            row = con.execute("SELECT plan_sha FROM canon_episode_plans WHERE project_id = ? AND episode_id = ?",
                              [project_id, episode_id]).fetchone()
        return row[0] if row else None

    def _known(self, con, project_id: str, episode_id: str, diff_sha: str) -> bool:
        return con.execute("SELECT 1 FROM canon_diffs WHERE sha256 = ? AND project_id = ? AND episode_id = ?",
                           [diff_sha, project_id, episode_id]).fetchone() is not None

    def set_status(self, project_id: str, episode_id: str, diff_sha: str, status: Status, approver: str,
                   note: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"status is one of {', '.join(STATUSES)}, not {status!r}")
        if not approver.strip():
            raise ValueError("set_status needs the approver's name")
        with self._connect() as con:
            if not self._known(con, project_id, episode_id, diff_sha):
                raise LookupError(f"{self.path}: no CanonDiff {diff_sha} recorded for {project_id}/{episode_id}")
            con.execute("INSERT INTO canon_diff_status VALUES (?, ?, ?, ?, ?)",
                        [diff_sha, self._next_seq(con, "canon_diff_status"), status, approver, note])

    def diff_status(self, project_id: str, episode_id: str, diff_sha: str) -> str | None:
        history = self.status_history(project_id, episode_id, diff_sha)
        return history[-1].status if history else None

    def status_history(self, project_id: str, episode_id: str, diff_sha: str) -> list[StatusRecord]:
        with self._connect() as con:
            if not self._known(con, project_id, episode_id, diff_sha):
                return []
            rows = con.execute("SELECT status, approver, note FROM canon_diff_status WHERE diff_sha = ? ORDER BY seq",
                               [diff_sha]).fetchall()
        return [StatusRecord(status=s, approver=a, note=n) for s, a, n in rows]

    def reviewed(self, project_id: str) -> set[str]:
        with self._connect() as con:
            rows = con.execute("SELECT s.diff_sha FROM canon_diff_status s JOIN canon_diffs d ON d.sha256 = s.diff_sha "
                               "WHERE d.project_id = ? GROUP BY s.diff_sha HAVING count(*) > 1", [project_id]).fetchall()
        return {sha for (sha,) in rows}

    def latest_diffs(self, project_id: str) -> dict[str, tuple[CanonDiff, str]]:
        with self._connect() as con:
            latest = con.execute(
                "SELECT episode_id, sha256 FROM canon_diffs d WHERE project_id = ? AND seq = "
                "(SELECT max(seq) FROM canon_diffs e WHERE e.project_id = d.project_id AND e.episode_id = d.episode_id)"
                " ORDER BY episode_id", [project_id]).fetchall()
            shas = [sha for _, sha in latest]
            facts = con.execute("SELECT diff_sha, kind, position, attribute, value_json FROM canon_diff_facts "
                                "WHERE list_contains(?, diff_sha)", [shas]).fetchall() if shas else []
            statuses = dict(con.execute(
                "SELECT diff_sha, status FROM canon_diff_status s WHERE list_contains(?, diff_sha) AND seq = "
                "(SELECT max(seq) FROM canon_diff_status t WHERE t.diff_sha = s.diff_sha)", [shas]).fetchall()
                            ) if shas else {}
        rows: dict[str, list] = {sha: [] for sha in shas}
        for sha, *row in facts:
            rows[sha].append(tuple(row))
        out: dict[str, tuple[CanonDiff, str]] = {}
        for episode_id, sha in latest:
            data = rebuild(rows[sha], "diff")
            diff = CanonDiff.model_validate(data)
            # a diff of an earlier MAJOR loads upgraded, so its bytes differ: the gate records it anew when run
            if diff.sha256() != sha and diff.schema_version == data.get("schema_version"):
                raise ValueError(f"{self.path}: CanonDiff {sha} of {project_id}/{episode_id} does not load back to "
                                 f"its sha256; the store is damaged")
            out[episode_id] = (diff, statuses[sha])
        return out
