"""`duckdb $NAOS_HOME/naos.duckdb` works for ad-hoc SQL: the real `duckdb` command (duckdb-cli wheel) reads the views
the Python duckdb writes, over real Parquet, audit-trail and alert files, and gets what the Python side gets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from io_managers import AuditTrail, Registry
from naos_assets.analytics import SCHEMAS, _write_parquet, ensure_views, parquet_path, query
from sensors.alerting import Alert, AlertEmitter


def _duckdb() -> str:
    found = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    if found is None:
        pytest.fail("the duckdb command is missing: `make install` installs the duckdb-cli wheel")
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    started = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    for i, status in enumerate(("success", "waiting_for_approval")):
        row = {"run_id": f"run-{i}", "job": "render_episode", "project_id": "pilot", "episode_id": f"s01e0{i + 1}",
               "season": 1, "status": status, "exit_code": 0 if status == "success" else 5, "started_at": started,
               "finished_at": started, "duration_s": 12.5 + i, "cache_hits": 3 + i, "cache_misses": 1}
        _write_parquet(parquet_path(home, "runs", row["run_id"]), pa.Table.from_pylist([row], schema=SCHEMAS["runs"]))
    AuditTrail(Registry.local(home / "artifacts")).append(
        project_id="pilot", episode_id="s01e02", checkpoint="approve_shotlist_timing_lock", artifact="ShotList",
        artifact_sha256="a" * 64, decision="requested", by="naos", note="10 shots")
    AlertEmitter(home).emit(Alert("approval_requested", "run-1", "shotlist_timing_lock", "review", episode_id="s01e02"))
    ensure_views(home)
    return home


def test_the_duckdb_command_reads_the_views_like_python_does(home):
    sql = ("SELECT r.episode_id, r.status, r.cache_hits, a.checkpoint, a.actor, l.alert_type "
           "FROM runs r LEFT JOIN approvals a USING (episode_id) LEFT JOIN alerts l USING (episode_id) "
           "ORDER BY r.episode_id")
    result = subprocess.run([_duckdb(), "-readonly", "-json", str(home / "naos.duckdb"), "-c", sql],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == query(home, sql) == [
        {"episode_id": "s01e01", "status": "success", "cache_hits": 3, "checkpoint": None, "actor": None,
         "alert_type": None},
        {"episode_id": "s01e02", "status": "waiting_for_approval", "cache_hits": 4,
         "checkpoint": "approve_shotlist_timing_lock", "actor": "naos", "alert_type": "approval_requested"}]


def test_refreshing_the_views_while_a_session_has_the_file_open(home):
    """A view refresh swaps in a new file: an open `duckdb` session keeps reading the old one, nothing blocks."""
    session = subprocess.Popen([_duckdb(), "-readonly", str(home / "naos.duckdb")], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        session.stdin.write("SELECT count(*) FROM runs;\n")
        session.stdin.flush()
        ensure_views(home)
        assert query(home, "SELECT count(*) AS n FROM runs") == [{"n": 2}]
    finally:
        out, err = session.communicate(".quit\n", timeout=60)
    assert session.returncode == 0, err
    assert "2" in out
