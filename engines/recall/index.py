"""RecallIndex: scene passages and their vectors in a DuckDB file; cosine top-k computed in DuckDB.

DuckDB lets one process at a time open a file for writing, and concurrent runs (different episodes) share the file: every
call takes an exclusive flock on the sidecar `<db>.lock`, opens a connection, does its work, closes it and lets go.
Embedding happens outside the lock, so one run's embedding never holds up another run's reads or writes.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from .embedding import DIM, MODEL, embed

TABLE = "recall_passages"
SCORE_DECIMALS = 6

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    project_id VARCHAR NOT NULL,
    passage_id VARCHAR NOT NULL,
    episode_id VARCHAR NOT NULL,
    episode_index INTEGER NOT NULL,
    scene_id VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    text_sha256 VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    vector FLOAT[{DIM}] NOT NULL,
    PRIMARY KEY (project_id, passage_id)
)
"""


@dataclass(frozen=True)
class Passage:
    """One scene's text, as recall stores it."""

    project_id: str
    episode_id: str
    episode_index: int
    scene_id: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.episode_id}/{self.scene_id}"

    @property
    def text_sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Hit:
    """A recalled passage and its cosine similarity to the query (rounded to 6 decimals). Never authoritative."""

    episode_id: str
    scene_id: str
    text: str
    score: float

    @property
    def id(self) -> str:
        return f"{self.episode_id}/{self.scene_id}"


class RecallIndex:
    """Vector memory for one DuckDB file, shared by projects (rows are keyed by project_id) and processes."""

    def __init__(self, db_path: str | Path):
        self.db_path = Path(db_path)
        self.lock_path = self.db_path.with_name(self.db_path.name + ".lock")

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                con = duckdb.connect(str(self.db_path))
                try:
                    con.execute(_SCHEMA)
                    yield con
                finally:
                    con.close()
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def add(self, passages: Iterable[Passage]) -> int:
        """Upsert passages by (project_id, passage id); embed only those whose text or model changed. Returns how many
        were embedded. A passage given twice keeps its last version."""
        latest: dict[tuple[str, str], Passage] = {}
        for p in passages:
            if not isinstance(p, Passage):
                raise TypeError(f"RecallIndex.add: expected Passage, got {type(p).__name__}")
            latest[(p.project_id, p.id)] = p
        if not latest:
            return 0
        rows = sorted(latest.values(), key=lambda p: (p.project_id, p.id))
        shas = [p.text_sha256 for p in rows]
        incoming = pa.table({
            "project_id": [p.project_id for p in rows],
            "passage_id": [p.id for p in rows],
            "episode_id": [p.episode_id for p in rows],
            "episode_index": pa.array([int(p.episode_index) for p in rows], pa.int32()),
            "scene_id": [p.scene_id for p in rows],
            "text_sha256": shas,
        })
        with self._connect() as con:
            con.register("incoming", incoming)
            current = set(con.execute(
                f"SELECT i.project_id, i.passage_id FROM incoming i JOIN {TABLE} r USING (project_id, passage_id) "
                "WHERE r.text_sha256 = i.text_sha256 AND r.model = ?", [MODEL]).fetchall())
            # Unchanged text: only the episode's position in the season may have moved.
            con.execute(
                f"UPDATE {TABLE} AS r SET episode_index = i.episode_index FROM incoming AS i "
                "WHERE r.project_id = i.project_id AND r.passage_id = i.passage_id "
                "AND r.text_sha256 = i.text_sha256 AND r.model = ? AND r.episode_index <> i.episode_index", [MODEL])
        stale = [(p, sha) for p, sha in zip(rows, shas, strict=True) if (p.project_id, p.id) not in current]
        if not stale:
            return 0
        vectors = embed([p.text for p, _ in stale])  # outside the lock: other processes keep going meanwhile
        fresh = pa.table({
            "project_id": [p.project_id for p, _ in stale],
            "passage_id": [p.id for p, _ in stale],
            "episode_id": [p.episode_id for p, _ in stale],
            "episode_index": pa.array([int(p.episode_index) for p, _ in stale], pa.int32()),
            "scene_id": [p.scene_id for p, _ in stale],
            "text": [p.text for p, _ in stale],
            "text_sha256": [sha for _, sha in stale],
            "model": [MODEL] * len(stale),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), DIM),
        })
        with self._connect() as con:
            con.register("fresh", fresh)
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM {TABLE} AS r USING fresh AS f "
                            "WHERE r.project_id = f.project_id AND r.passage_id = f.passage_id")
                con.execute(f"INSERT INTO {TABLE} SELECT project_id, passage_id, episode_id, episode_index, scene_id, "
                            "text, text_sha256, model, vector FROM fresh")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return len(stale)

    def top_k(self, project_id: str, query: str, k: int, before_episode_index: int) -> list[Hit]:
        """The k passages of earlier episodes (episode_index < before_episode_index) most similar to query, by cosine
        similarity rounded to 6 decimals, then passage id: a deterministic order."""
        if k <= 0:
            return []
        vector = embed([query])[0]
        with self._connect() as con:
            rows = con.execute(
                f"SELECT episode_id, scene_id, text, "
                f"round(CAST(array_cosine_similarity(vector, CAST(? AS FLOAT[{DIM}])) AS DOUBLE), {SCORE_DECIMALS}) "
                f"AS score FROM {TABLE} WHERE project_id = ? AND model = ? AND episode_index < ? "
                "ORDER BY score DESC, passage_id ASC LIMIT ?",
                [vector.tolist(), project_id, MODEL, int(before_episode_index), int(k)]).fetchall()
        return [Hit(episode_id=e, scene_id=s, text=t, score=round(float(score), SCORE_DECIMALS))
                for e, s, t, score in rows]

    def remove_episode(self, project_id: str, episode_id: str) -> int:
        """Drop an episode's passages; returns how many were removed."""
        with self._connect() as con:
            (n,) = con.execute(f"SELECT count(*) FROM {TABLE} WHERE project_id = ? AND episode_id = ?",
                               [project_id, episode_id]).fetchone()
            con.execute(f"DELETE FROM {TABLE} WHERE project_id = ? AND episode_id = ?", [project_id, episode_id])
        return int(n)

    def count(self, project_id: str | None = None) -> int:
        """How many passages are stored (for one project, or all)."""
        with self._connect() as con:
            if project_id is None:
                (n,) = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
            else:
                (n,) = con.execute(f"SELECT count(*) FROM {TABLE} WHERE project_id = ?", [project_id]).fetchone()
        return int(n)

    def vectors(self, project_id: str) -> dict[str, np.ndarray]:
        """Stored vectors by passage id (for checks and tools)."""
        with self._connect() as con:
            rows = con.execute(f"SELECT passage_id, vector FROM {TABLE} WHERE project_id = ? ORDER BY passage_id",
                               [project_id]).fetchall()
        return {pid: np.asarray(vec, dtype=np.float32) for pid, vec in rows}
