"""The records index (io_managers/record_index.py): the first record of an artifact stands, under racing writers, on
the store (local, S3 on moto's server) and in PostgreSQL (a fresh database on 127.0.0.1:5432 for this module; no
server: skipped, but under CI=true it fails)."""

from __future__ import annotations

import multiprocessing
import socket
import uuid
from pathlib import Path

import pytest

from io_managers import (
    PostgresRecordIndex,
    RecordIndexUnavailable,
    Registry,
    StoreRecordIndex,
    record_index_from_env,
)
from io_managers.registry import LocalStore
from io_managers.s3_store import S3Store, make_client
from tests.postgres import PG, fresh_database
from tests.s3_server import CREDS, moto_server

BUCKET = "naos-index"
WRITERS, SHAS = 4, 40


@pytest.fixture(scope="module")
def pg_env():
    """A fresh, empty database for this module; the NAOS_PG_* variables that point at it."""
    with fresh_database("naos_index") as pg:
        yield pg


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto") / "server.log") as url:
        make_client(endpoint_url=url, **CREDS).create_bucket(Bucket=BUCKET)
        yield url


def _registry(kind: str, where: dict) -> Registry:
    """Built anew in each process: how a Dagster step or a Celery worker opens the registry."""
    if kind == "local":
        store = LocalStore(where["root"])
    else:
        store = S3Store(BUCKET, where["prefix"], client=make_client(endpoint_url=where["url"], **CREDS))
    index = PostgresRecordIndex.from_env(where["pg"]) if "pg" in where else None
    return Registry(store, scratch=where["scratch"], index=index)


def _record(reg: Registry, sha: str, writer: int) -> dict:
    return reg.put_record("shot_clip", "s01e01", sha, schema_version=None, parents={}, params={"writer": writer},
                          code_version="render@1", media_type="video/mp4", run_id=f"run-{writer}")


def _write_all(kind: str, where: dict, writer: int, start, out) -> None:
    reg = _registry(kind, {**where, "scratch": f"{where['scratch']}/{writer}"})  # a scratch folder each
    shas = [f"{i:064x}" for i in range(SHAS)]
    start.wait()
    won = [sha for sha in (shas if writer % 2 else shas[::-1]) if reg.index.put(_record_dict(reg, sha, writer))]
    out.put((writer, won))


def _record_dict(reg: Registry, sha: str, writer: int) -> dict:
    return {"sha256": sha, "asset_key": "shot_clip", "partition": "s01e01", "params": {"writer": writer},
            "created_at": "2026-01-01T00:00:00+00:00", "site_id": f"site-{writer}"}


def race(kind: str, where: dict) -> dict[str, int]:
    """WRITERS processes put a record for each of SHAS artifacts at once (half in reverse order, so they meet);
    which writer's record won each artifact."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_write_all, args=(kind, where, n, start, out)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    winners: dict[str, int] = {}
    for writer, won in results:
        for sha in won:
            assert sha not in winners, f"{sha} stored by writers {winners[sha]} and {writer}"
            winners[sha] = writer
    return winners


@pytest.fixture(params=["local", "s3", "postgres"])
def where(request, tmp_path: Path) -> tuple[str, dict]:
    base = {"scratch": str(tmp_path / "scratch"), "root": str(tmp_path / "artifacts")}
    if request.param == "local":
        return "local", base
    if request.param == "s3":
        return "s3", {**base, "url": request.getfixturevalue("moto"), "prefix": f"t/{uuid.uuid4().hex}"}
    return "local", {**base, "pg": request.getfixturevalue("pg_env")}  # records in PostgreSQL, objects local


def test_racing_writers_of_one_record_first_stands(where):
    kind, spec = where
    winners = race(kind, spec)
    reg = _registry(kind, spec)
    stored = {r["sha256"]: r for r in reg.iter_records("shot_clip", "s01e01")}
    shas = {f"{i:064x}" for i in range(SHAS)}
    assert set(winners) == shas and set(stored) == shas  # every artifact: exactly one writer was told it won
    for sha in shas:
        assert stored[sha]["params"] == {"writer": winners[sha]}  # the one stored is the winner's
        assert reg.get_record("shot_clip", "s01e01", sha) == stored[sha]


def test_put_record_keeps_the_birth_certificate(where):
    kind, spec = where
    reg = _registry(kind, spec)
    sha = uuid.uuid4().hex * 2
    first = _record(reg, sha, 1)
    _record(reg, sha, 2)
    assert reg.get_record("shot_clip", "s01e01", sha) == first
    assert reg.get_record("shot_clip", "s01e02", sha) is None
    assert reg.get_record("story_arc", None, sha) is None
    arc = reg.put_record("story_arc", None, sha, schema_version="1.0.0", parents={}, params={}, code_version="c",
                         media_type="application/json")
    assert reg.get_record("story_arc", None, sha) == arc
    assert arc in list(reg.iter_records("story_arc"))
    assert all(r["asset_key"] == "shot_clip" for r in reg.iter_records("shot_clip"))


def test_the_postgres_index_creates_its_table_and_holds_typed_columns(pg_env, tmp_path: Path):
    import psycopg2

    index = PostgresRecordIndex.from_env(pg_env)
    reg = Registry.local(tmp_path / "artifacts")
    reg.index = index
    sha = reg.put_bytes(b"a clip")
    rec = _record(reg, sha, 7)
    assert not (tmp_path / "artifacts" / "records").exists()  # nothing under records/ in the store
    conn = psycopg2.connect(host=pg_env["NAOS_PG_HOST"], port=int(pg_env["NAOS_PG_PORT"]),
                            user=pg_env["NAOS_PG_USER"], password=pg_env["NAOS_PG_PASSWORD"],
                            dbname=pg_env["NAOS_PG_DB"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT asset, partition, site_id, record->'params'->>'writer', created_at IS NOT NULL "
                        "FROM naos_registry_records WHERE sha256 = %s", (sha,))
            assert cur.fetchall() == [("shot_clip", "s01e01", rec["site_id"], "7", True)]
    finally:
        conn.close()
    assert reg.check().counts["records"] >= 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_postgres_names_the_variables(tmp_path: Path):
    port = _free_port()  # nothing listens there
    env = {**PG, "NAOS_PG_HOST": "127.0.0.1", "NAOS_PG_PORT": str(port), "NAOS_PG_DB": "naos"}
    reg = Registry.local(tmp_path / "artifacts")
    reg.index = PostgresRecordIndex.from_env(env)
    with pytest.raises(RecordIndexUnavailable, match=rf"NAOS_PG_HOST:NAOS_PG_PORT = 127\.0\.0\.1:{port}"):
        reg.get_record("script", "s01e01", "a" * 64)
    with pytest.raises(RecordIndexUnavailable, match=rf"127\.0\.0\.1:{port}"):
        list(reg.iter_records())


def test_the_index_is_chosen_from_the_environment(tmp_path: Path):
    store = LocalStore(tmp_path / "artifacts")
    pg = {**PG, "NAOS_PG_DB": "naos"}
    assert isinstance(record_index_from_env({}, store), StoreRecordIndex)
    assert isinstance(record_index_from_env({"NAOS_PROFILE": "embedded", **pg}, store), StoreRecordIndex)
    assert isinstance(record_index_from_env({"NAOS_PROFILE": "production", **pg}, store), PostgresRecordIndex)
    assert isinstance(record_index_from_env({"NAOS_PROFILE": "production", "NAOS_REGISTRY_INDEX": "store"}, store),
                      StoreRecordIndex)
    assert isinstance(record_index_from_env({"NAOS_REGISTRY_INDEX": "Postgres", **pg}, store), PostgresRecordIndex)
    with pytest.raises(ValueError, match="NAOS_REGISTRY_INDEX must be store or postgres, not 'mysql'"):
        record_index_from_env({"NAOS_REGISTRY_INDEX": "mysql"}, store)
    with pytest.raises(ValueError, match="needs NAOS_PG_HOST, NAOS_PG_DB"):
        record_index_from_env({"NAOS_PROFILE": "production", **{**pg, "NAOS_PG_HOST": ""}, "NAOS_PG_DB": ""}, store)
    with pytest.raises(ValueError, match="needs NAOS_PG_PASSWORD"):  # empty is fine (trust), unset is not
        record_index_from_env({"NAOS_REGISTRY_INDEX": "postgres", **{k: v for k, v in pg.items()
                                                                      if k != "NAOS_PG_PASSWORD"}}, store)
    with pytest.raises(ValueError, match="NAOS_PG_PORT must be a port number, not 'x'"):
        record_index_from_env({"NAOS_REGISTRY_INDEX": "postgres", **pg, "NAOS_PG_PORT": "x"}, store)
