"""NAOS_PROFILE=production: the Dagster instance in PostgreSQL (deploy/production/dagster.yaml, dagster-postgres).

Each run of this file makes a fresh database (naos_test_<random>) on the server NAOS_PG_HOST/NAOS_PG_PORT (default
127.0.0.1:5432, user NAOS_PG_USER or postgres) and drops it afterwards. No server: skipped, but under CI=true it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.postgres import PG, fresh_database, query
from tests.test_cli import GOLDEN, PILOT, ROOT, digests

POOLS = ["cpu_queue", "local_ai_queue", "media_queue", "external_ai_queue"]


def naos(*args: str, home: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith(("NAOS_PG_", "NAOS_PROFILE"))}
    full.update(env, NAOS_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def pg_env():
    """A fresh, empty database for this module; the NAOS_PG_* variables that point at it."""
    with fresh_database() as pg:
        # in-process: this file tests the storage; tests/test_celery.py runs production on its Celery workers, and
        # tests/test_s3_pipeline.py the S3 registry (production's default, so local is named here)
        yield {**pg, "NAOS_PROFILE": "production", "NAOS_EXECUTOR": "in_process", "NAOS_REGISTRY": "local"}


@pytest.fixture(scope="module")
def prod_render(pg_env, tmp_path_factory):
    base = tmp_path_factory.mktemp("pg")
    result = naos("render", "--project", str(PILOT / "project.yaml"), "--episode", "s01e01", "--out",
                  str(base / "out"), home=base / "home", env=pg_env)
    return base, result


def test_unknown_profile_is_bad_input(tmp_path):
    result = naos("queues", home=tmp_path / "home", env={"NAOS_PROFILE": "staging"})
    assert result.returncode == 2, result.stderr
    assert "NAOS_PROFILE" in result.stderr and "'staging'" in result.stderr


def test_embedded_default_unchanged_and_profiles_never_mix(tmp_path):
    """The default copies the root dagster.yaml as before; an instance made by one profile is refused (exit 2, said
    on stderr) by the other; the production settings need their NAOS_PG_* variables (no server needed here)."""
    embedded = tmp_path / "embedded"
    assert naos("queues", home=embedded, env={}).returncode == 0
    assert (embedded / "dagster" / "dagster.yaml").read_bytes() == (ROOT / "dagster.yaml").read_bytes()
    refused = naos("queues", home=embedded, env={**PG, "NAOS_PG_DB": "x", "NAOS_PROFILE": "production"})
    assert refused.returncode == 2
    assert "NAOS_PROFILE=production wants postgres storage" in refused.stderr and "uses sqlite" in refused.stderr

    production = tmp_path / "production"
    unset = naos("queues", home=production, env={"NAOS_PROFILE": "production"})
    assert unset.returncode == 2 and "NAOS_PG_HOST" in unset.stderr and "not set" in unset.stderr
    assert (production / "dagster" / "dagster.yaml").read_bytes() == (
        ROOT / "deploy" / "production" / "dagster.yaml").read_bytes()
    mixed = naos("queues", home=production, env={})  # NAOS_PROFILE unset = embedded
    assert mixed.returncode == 2 and "NAOS_PROFILE=embedded wants sqlite storage" in mixed.stderr
    assert not list((production / "dagster").rglob("*.db"))


@pytest.mark.slow
def test_render_on_postgres_is_the_golden_render(prod_render, pg_env):
    base, result = prod_render
    assert result.returncode == 0, result.stderr
    run_id = json.loads((base / "out" / "run_summary.json").read_text())["run_id"]
    assert query(pg_env, "SELECT pipeline_name, status FROM runs WHERE run_id = %s", run_id) == [
        ("render_episode", "SUCCESS")]
    events = dict(query(pg_env, "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s "
                                "AND dagster_event_type IS NOT NULL GROUP BY 1", run_id))
    assert events["PIPELINE_SUCCESS"] == 1 and events["STEP_SUCCESS"] >= 10
    materialized = {key for (key,) in query(pg_env, "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = %s "
                                                    "AND dagster_event_type = 'ASSET_MATERIALIZATION'", run_id)}
    assert {'["script"]', '["shot_list"]', '["render_output"]'} <= materialized
    assert ("s01e01",) in query(pg_env, "SELECT partition FROM dynamic_partitions WHERE partitions_def_name = "
                                        "'episodes'")
    # nothing of the run in SQLite: the instance folder keeps only its settings, compute logs and step outputs
    dagster_home = base / "home" / "dagster"
    assert [p for p in dagster_home.rglob("*") if p.suffix in (".db", ".sqlite")] == []
    assert not (dagster_home / "history").exists() and not (dagster_home / "schedules").exists()
    # the same bytes as the embedded profile's golden render (tests/test_cli.py)
    assert digests(base / "out") == json.loads(GOLDEN.read_text())


@pytest.mark.slow
def test_queues_and_reaping_on_postgres(prod_render, pg_env, monkeypatch):
    """The four pools are sized in PostgreSQL; a run left started by a killed `naos` is marked failed by the next
    `naos render`, and the pool slot it held is freed."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef
    from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

    from naos_assets.queues import queue_sizes

    base, first = prod_render
    assert first.returncode == 0, first.stderr
    home = base / "home"
    shown = naos("queues", "--json", home=home, env=pg_env)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    limits = queue_sizes()
    assert [r["queue"] for r in rows] == POOLS
    assert {r["queue"]: r["limit"] for r in rows} == limits
    assert dict(query(pg_env, "SELECT concurrency_key, \"limit\" FROM concurrency_limits")) == limits

    for key, value in pg_env.items():
        monkeypatch.setenv(key, value)
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    try:
        gone = subprocess.Popen(["true"])
        gone.wait()
        orphan = DagsterRun(job_name="render_episode", run_id=str(uuid.uuid4()), status=DagsterRunStatus.STARTED,
                            tags={"naos/host": socket.gethostname(), "naos/pid": str(gone.pid)})
        instance.add_run(orphan)
        storage = instance.event_log_storage
        assert storage.claim_concurrency_slot("cpu_queue", orphan.run_id, "its_step").is_claimed
        again = naos("render", "--project", str(PILOT / "project.yaml"), "--episode", "s01e01", "--out",
                     str(base / "again"), home=home, env=pg_env)
        assert again.returncode == 0, again.stderr
        assert f"run {orphan.run_id} (render_episode) was left started by a killed naos" in again.stderr
        assert query(pg_env, "SELECT status FROM runs WHERE run_id = %s", orphan.run_id) == [("FAILURE",)]
        assert storage.get_concurrency_info("cpu_queue").active_slot_count == 0
        assert digests(base / "again") == digests(base / "out")
    finally:
        instance.dispose()
        shutil.rmtree(base / "again", ignore_errors=True)
