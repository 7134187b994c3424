"""Where the registry keeps its records (how each artifact was made): the records index.

Two backends, one rule: the first record of an (asset, partition, sha256) is its birth certificate and stands; a
later put of the same artifact changes nothing, and of two racing writers exactly one wins.

  * StoreRecordIndex: `records/<asset>/<partition>/<sha256>.json` in the registry's own store (LocalStore or S3),
    written with the store's `put_if_absent` (link(2) locally, a conditional PUT on S3). The default.
  * PostgresRecordIndex: the table `naos_registry_records` in PostgreSQL (the production profile's database, the one
    the Dagster instance uses), `INSERT ... ON CONFLICT DO NOTHING`; the table is created on first use.

`record_index_from_env(env, store)` picks one (docs/DEPLOY.md, "The records index"). Plain Python: psycopg2 is
imported only when the PostgreSQL index is asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .registry import ObjectStore

ALL = "__all__"  # the partition name of an unpartitioned asset, as in refs/ and records/
TABLE = "naos_registry_records"
PG_VARS = ("NAOS_PG_HOST", "NAOS_PG_PORT", "NAOS_PG_USER", "NAOS_PG_PASSWORD", "NAOS_PG_DB")


class RecordIndexUnavailable(ConnectionError):
    """The index's database cannot be reached (the message names NAOS_PG_HOST:NAOS_PG_PORT)."""


@dataclass(frozen=True)
class IndexedRecord:
    """One stored record as the index holds it: where (a store key or a table row), under which address, and the
    record itself (None when it cannot be read as a JSON object)."""

    location: str
    asset: str
    partition: str  # ALL when unpartitioned
    sha256: str
    record: dict | None


def record_key(asset: str, partition: str | None, sha: str) -> str:
    return f"records/{asset}/{partition or ALL}/{sha}.json"


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, indent=2).encode() + b"\n"


class RecordIndex(ABC):
    @abstractmethod
    def put(self, record: dict) -> bool:
        """Store `record` (its `asset_key`, `partition`, `sha256` are its address) unless one is there: True when
        this one was stored, False when an earlier record stands."""

    @abstractmethod
    def get(self, asset: str, partition: str | None, sha: str) -> dict | None: ...

    @abstractmethod
    def scan(self, asset: str | None = None, partition: str | None = None) -> Iterator[IndexedRecord]:
        """Every stored record (of `asset`, and of its `partition` when given), unreadable ones included."""


class StoreRecordIndex(RecordIndex):
    def __init__(self, store: ObjectStore):
        self.store = store

    def __repr__(self) -> str:
        return f"StoreRecordIndex({self.store!r})"

    def put(self, record: dict) -> bool:
        return self.store.put_if_absent(record_key(record["asset_key"], record["partition"], record["sha256"]),
                                        _json(record))

    def get(self, asset: str, partition: str | None, sha: str) -> dict | None:
        try:
            return json.loads(self.store.get_bytes(record_key(asset, partition, sha)))
        except FileNotFoundError:
            return None

    def scan(self, asset: str | None = None, partition: str | None = None) -> Iterator[IndexedRecord]:
        folder = "records" if asset is None else f"records/{asset}" + (f"/{partition or ALL}" if partition else "")
        for key in self.store.list(folder):
            parts = key.split("/")  # records/<asset, may hold '/'>/<partition>/<sha>.json
            if len(parts) < 4 or not key.endswith(".json"):
                yield IndexedRecord(key, "", "", "", None)
                continue
            where = IndexedRecord(key, "/".join(parts[1:-2]), parts[-2], parts[-1][: -len(".json")], None)
            if asset is not None and (where.asset != asset or (partition and where.partition != partition)):
                continue  # records/render_output/... also lists render_output/video's records
            try:
                record = json.loads(self.store.get_bytes(key))
            except FileNotFoundError:
                continue
            except ValueError:
                record = None
            yield IndexedRecord(key, where.asset, where.partition, where.sha256,
                                record if isinstance(record, dict) else None)


class PostgresRecordIndex(RecordIndex):
    """Records as rows of `naos_registry_records`, primary key (asset, partition, sha256). A connection per call: a
    step process forked by Dagster never shares one, and a database that restarts costs only the calls during it."""

    def __init__(self, *, host: str, port: int, user: str, password: str, dbname: str, connect_timeout: int = 10):
        self.params = {"host": host, "port": port, "user": user, "password": password, "dbname": dbname,
                       "connect_timeout": connect_timeout}
        self._ready_in: int | None = None  # the pid that made sure the table exists

    def __repr__(self) -> str:
        return f"PostgresRecordIndex({self.params['host']}:{self.params['port']}/{self.params['dbname']})"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PostgresRecordIndex:
        missing = [name for name in PG_VARS if name not in env or (name != "NAOS_PG_PASSWORD" and not env[name])]
        if missing:
            raise ValueError(f"the PostgreSQL records index needs {', '.join(missing)} (docs/DEPLOY.md)")
        try:
            port = int(env["NAOS_PG_PORT"])
        except ValueError:
            raise ValueError(f"NAOS_PG_PORT must be a port number, not {env['NAOS_PG_PORT']!r}") from None
        return cls(host=env["NAOS_PG_HOST"], port=port, user=env["NAOS_PG_USER"], password=env["NAOS_PG_PASSWORD"],
                   dbname=env["NAOS_PG_DB"])

    @contextlib.contextmanager
    def _cursor(self, name: str | None = None) -> Iterator[Any]:
        """A cursor in one transaction (committed on success, rolled back on error); connection errors become
        RecordIndexUnavailable naming the server."""
        import psycopg2

        where = (f"NAOS_PG_HOST:NAOS_PG_PORT = {self.params['host']}:{self.params['port']} "
                 f"(NAOS_PG_DB={self.params['dbname']})")
        try:
            conn = psycopg2.connect(**self.params)
        except psycopg2.OperationalError as exc:
            raise RecordIndexUnavailable(f"registry records index: cannot reach PostgreSQL at {where}: "
                                         f"{str(exc).strip()}") from None
        try:
            with conn, conn.cursor(name) as cur:
                if self._ready_in != os.getpid():
                    self._create(conn)
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise RecordIndexUnavailable(f"registry records index: lost PostgreSQL at {where}: "
                                         f"{str(exc).strip()}") from None
        finally:
            conn.close()

    def _create(self, conn: Any) -> None:
        # CREATE TABLE IF NOT EXISTS is not safe against a racing CREATE; a transaction-scoped advisory lock is.
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
            cur.execute(f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                asset text NOT NULL, partition text NOT NULL, sha256 text NOT NULL, record jsonb NOT NULL,
                created_at timestamptz, site_id text, PRIMARY KEY (asset, partition, sha256))""")
        conn.commit()
        self._ready_in = os.getpid()

    def put(self, record: dict) -> bool:
        with self._cursor() as cur:
            cur.execute(
                f"INSERT INTO {TABLE} (asset, partition, sha256, record, created_at, site_id) "
                "VALUES (%s, %s, %s, %s::jsonb, %s::timestamptz, %s) ON CONFLICT DO NOTHING",
                (record["asset_key"], record["partition"] or ALL, record["sha256"], json.dumps(record, sort_keys=True),
                 record.get("created_at"), record.get("site_id")))
            return cur.rowcount == 1

    def get(self, asset: str, partition: str | None, sha: str) -> dict | None:
        with self._cursor() as cur:
            cur.execute(f"SELECT record FROM {TABLE} WHERE asset = %s AND partition = %s AND sha256 = %s",
                        (asset, partition or ALL, sha))
            row = cur.fetchone()
        return row[0] if row else None

    def scan(self, asset: str | None = None, partition: str | None = None) -> Iterator[IndexedRecord]:
        where, args = [], []
        if asset is not None:
            where.append("asset = %s")
            args.append(asset)
            if partition:
                where.append("partition = %s")
                args.append(partition)
        sql = f"SELECT asset, partition, sha256, record FROM {TABLE}"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY asset, partition, sha256"
        if self._ready_in != os.getpid():  # a server-side cursor cannot run the CREATE first
            with self._cursor():
                pass
        with self._cursor("naos_scan") as cur:  # server-side: rows stream in batches, not all at once
            cur.itersize = 1000
            cur.execute(sql, args)
            for a, p, s, record in cur:
                yield IndexedRecord(f"{TABLE}({a}, {p}, {s})", a, p, s, record if isinstance(record, dict) else None)


def record_index_from_env(env: Mapping[str, str] | None, store: ObjectStore) -> RecordIndex:
    """The records index for this deployment: NAOS_REGISTRY_INDEX (store | postgres) when set, else postgres under
    NAOS_PROFILE=production (on the NAOS_PG_* variables, the Dagster instance's database) and the registry's `store`
    otherwise."""
    env = os.environ if env is None else env
    choice = (env.get("NAOS_REGISTRY_INDEX") or "").strip().lower()
    if not choice:
        choice = "postgres" if (env.get("NAOS_PROFILE") or "").strip().lower() == "production" else "store"
    if choice == "store":
        return StoreRecordIndex(store)
    if choice == "postgres":
        return PostgresRecordIndex.from_env(env)
    raise ValueError(f"NAOS_REGISTRY_INDEX must be store or postgres, not {choice!r}")
