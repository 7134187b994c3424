"""The shared PostgreSQL server of the tests (NAOS_PG_HOST/NAOS_PG_PORT, default 127.0.0.1:5432, user
NAOS_PG_USER or postgres): a fresh database per test module, dropped afterwards. No server: skipped, but under
CI=true it fails. (tests/pg_cluster.py is the private server the outage tests stop and start.)"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

PG = {"NAOS_PG_HOST": os.environ.get("NAOS_PG_HOST", "127.0.0.1"), "NAOS_PG_PORT": os.environ.get("NAOS_PG_PORT", "5432"),
      "NAOS_PG_USER": os.environ.get("NAOS_PG_USER", "postgres"),
      "NAOS_PG_PASSWORD": os.environ.get("NAOS_PG_PASSWORD", "")}


def connect(db: str):
    import psycopg2

    return psycopg2.connect(host=PG["NAOS_PG_HOST"], port=int(PG["NAOS_PG_PORT"]), user=PG["NAOS_PG_USER"],
                            password=PG["NAOS_PG_PASSWORD"], dbname=db, connect_timeout=5)


@contextlib.contextmanager
def fresh_database(prefix: str = "naos_test") -> Iterator[dict[str, str]]:
    """A new, empty database `<prefix>_<random>`; yields the NAOS_PG_* variables that point at it."""
    import psycopg2

    try:
        admin = connect("postgres")
    except psycopg2.OperationalError as exc:
        reason = f"PostgreSQL unreachable at {PG['NAOS_PG_HOST']}:{PG['NAOS_PG_PORT']}: {str(exc).strip()}"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)
    admin.autocommit = True
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**PG, "NAOS_PG_DB": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def query(env: dict[str, str], sql: str, *params) -> list[tuple]:
    """Rows of `sql` on the database `env["NAOS_PG_DB"]`."""
    return rows(connect(env["NAOS_PG_DB"]), sql, *params)


def rows(conn, sql: str, *params) -> list[tuple]:
    """Rows of `sql` on an open psycopg2 connection, which is closed afterwards."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()
