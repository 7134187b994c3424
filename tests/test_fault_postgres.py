"""PostgreSQL outages under `naos render` (NAOS_PROFILE=production), on a private server (tests/pg_cluster.py) so
the shared one on 5432 stays up for the other tests. docs/DEPLOY.md, "Failures and recovery".

What happens: dagster-postgres retries each connection about 6 s (5 retries, exponential backoff). An outage
shorter than that is absorbed; a longer one fails the step that was writing (exit 4, the step's message names the
server), or, if it lasts until the run's own events cannot be written, ends the command (exit 4, one line naming
NAOS_PG_HOST:NAOS_PG_PORT) with the run left STARTED holding its pool slot, until the next `naos` on this host
marks it failed and frees the slot. The registry is never half-written; the next render is the golden render.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.pg_cluster import private_cluster
from tests.postgres import rows
from tests.test_cli import GOLDEN, PILOT, ROOT, digests
from tests.test_postgres_profile import naos

SHOT_STARTED = "▶ shot_clips.render_shot_clip["  # naos's progress line when a shot step starts (its pool slot held)
RENDER = ("render", "--project", str(PILOT / "project.yaml"), "--episode", "s01e01")


@pytest.fixture(scope="module")
def cluster():
    pg = private_cluster()
    yield pg
    pg.cleanup()


@pytest.fixture
def pg_env(cluster):
    """A fresh database on the private server; the in-process executor and the local registry, so that only the
    instance lives in PostgreSQL. The server is running again after the test, whatever it did."""
    name = f"naos_fault_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name)
    yield {**cluster.env(name), "NAOS_PROFILE": "production", "NAOS_REGISTRY": "local", "NAOS_EXECUTOR": "in_process"}
    if not cluster.running():
        cluster.start()


def query(cluster, env: dict[str, str], sql: str, *params) -> list[tuple]:
    import psycopg2

    return rows(psycopg2.connect(cluster.dsn.replace("dbname=postgres", f"dbname={env['NAOS_PG_DB']}")), sql, *params)


class Render:
    """`naos render` in the background, its stderr read as it comes (so the pipe never fills) and watched for a
    progress line."""

    def __init__(self, home: Path, out: Path, env: dict[str, str]):
        full = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith(("NAOS_PG_", "NAOS_PROFILE"))}
        full.update(env, NAOS_HOME=str(home))
        self.proc = subprocess.Popen([sys.executable, "-m", "naos_assets.cli", *RENDER, "--out", str(out)], cwd=ROOT,
                                     env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.shot_started = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if SHOT_STARTED in line:
                self.shot_started.set()
        self.shot_started.set()  # ended without a shot step: the test says so

    def wait_for_a_shot(self) -> None:
        self.shot_started.wait(timeout=900)  # a hang guard, not a timing assertion
        assert self.proc.poll() is None and any(SHOT_STARTED in line for line in self.lines), self.stderr

    def wait(self) -> int:
        code = self.proc.wait(timeout=900)
        self._reader.join(timeout=60)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.lines)


def assert_registry_whole(home: Path) -> None:
    """No temp file left; every ref points at an object, every object's bytes hash to its name."""
    root = home / "artifacts"
    assert [p for p in root.rglob(".tmp-*")] == []
    refs = list((root / "refs").rglob("*.json"))
    assert refs, "the run got as far as writing artifacts"
    for ref in refs:
        sha = json.loads(ref.read_text())["sha256"]
        assert (root / "objects" / sha).is_file(), f"{ref}: object {sha} missing"
    for obj in (root / "objects").iterdir():
        assert hashlib.sha256(obj.read_bytes()).hexdigest() == obj.name, obj


def assert_no_slot_held(cluster, env) -> None:
    assert query(cluster, env, "SELECT concurrency_key, run_id FROM concurrency_slots WHERE run_id IS NOT NULL") == []
    assert query(cluster, env, "SELECT concurrency_key, run_id FROM pending_steps") == []


def assert_golden_rerun(cluster, env, home: Path, out: Path) -> subprocess.CompletedProcess:
    again = naos(*RENDER, "--out", str(out), home=home, env=env)
    assert again.returncode == 0, again.stderr
    assert digests(out) == json.loads(GOLDEN.read_text())
    assert query(cluster, env, "SELECT run_id FROM runs WHERE status IN ('STARTED', 'STARTING')") == []
    assert_no_slot_held(cluster, env)
    return again


def test_render_while_postgres_is_down(cluster, pg_env, tmp_path):
    """Exit 4 and one line naming NAOS_PG_HOST:NAOS_PG_PORT, no traceback; no run, no artifact, no --out."""
    cluster.stop("fast")
    try:
        result = naos(*RENDER, "--out", str(tmp_path / "out"), home=tmp_path / "home", env=pg_env)
    finally:
        cluster.start()
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if "is unreachable" in line]
    assert len(said) == 1 and f"NAOS_PG_HOST:NAOS_PG_PORT = 127.0.0.1:{cluster.port}" in said[0], result.stderr
    assert "nothing was run" in said[0]
    assert [p for p in (tmp_path / "home" / "artifacts").rglob("*") if p.is_file()] == []
    assert not (tmp_path / "out").exists()
    assert query(cluster, pg_env, "SELECT count(*) FROM pg_tables WHERE tablename = 'runs'") == [(0,)]


@pytest.mark.slow
def test_brief_outage_mid_render_completes_or_fails_cleanly(cluster, pg_env, tmp_path):
    """PostgreSQL killed (immediate stop) while a shot renders, back a few seconds later: the render completes (the
    retries covered it) or fails with exit 4 naming the server; then the same command gives the golden bytes."""
    home, out = tmp_path / "home", tmp_path / "out"
    render = Render(home, out, pg_env)
    render.wait_for_a_shot()
    cluster.stop("immediate")
    time.sleep(4)
    cluster.start()
    code = render.wait()
    print(f"\nbrief outage mid-render: exit {code}")  # which of the two clean outcomes this machine took
    assert code in (0, 4), render.stderr
    assert "Traceback" not in render.stderr
    if code == 4:
        assert f'"127.0.0.1", port {cluster.port}' in render.stderr or f"127.0.0.1:{cluster.port}" in render.stderr
        assert not (out / "episode.mp4").exists()
    else:
        assert digests(out) == json.loads(GOLDEN.read_text())
    assert_registry_whole(home)
    assert_golden_rerun(cluster, pg_env, home, tmp_path / "again")


@pytest.mark.slow
def test_outage_until_naos_exits_then_the_next_render_reaps_and_finishes(cluster, pg_env, tmp_path):
    """PostgreSQL stopped while a shot renders and kept down until `naos` gives up: exit 4 with one line naming the
    server; the run is left STARTED with its cpu_queue slot (nothing could write otherwise); once PostgreSQL is back
    the next `naos render` marks that run failed, frees the slot and ends with the golden bytes."""
    home, out = tmp_path / "home", tmp_path / "out"
    render = Render(home, out, pg_env)
    render.wait_for_a_shot()
    cluster.stop("fast")
    try:
        code = render.wait()
    finally:
        cluster.start()
    assert code == 4, render.stderr
    assert "Traceback" not in render.stderr
    said = [line for line in render.lines if "is unreachable" in line]
    assert len(said) == 1 and f"NAOS_PG_HOST:NAOS_PG_PORT = 127.0.0.1:{cluster.port}" in said[0], render.stderr
    assert "run the same command again" in said[0]
    assert not (out / "episode.mp4").exists()
    assert_registry_whole(home)
    [(run_id, status)] = query(cluster, pg_env, "SELECT run_id, status FROM runs WHERE pipeline_name = 'render_episode'")
    assert status == "STARTED"
    assert query(cluster, pg_env, "SELECT concurrency_key FROM concurrency_slots WHERE run_id = %s", run_id) == [
        ("cpu_queue",)]

    again = assert_golden_rerun(cluster, pg_env, home, tmp_path / "again")
    assert f"run {run_id} (render_episode) was left started" in again.stderr
    assert query(cluster, pg_env, "SELECT status FROM runs WHERE run_id = %s", run_id) == [("FAILURE",)]
