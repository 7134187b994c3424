"""Cost and lineage analytics (§16, §32.4): real `naos render` runs, real Parquet files, real DuckDB views."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from naos_assets.analytics import RUN_TABLES, ensure_views, is_written, parquet_path, query
from tests.test_cli import ROOT, _copy_pilot, _edit_yaml, naos, render

RATE = 3.6  # USD per local CPU hour: 1 USD per 1000 CPU seconds


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """s01e01 of a copy of the pilot (with a CPU price and a budget) rendered twice into one NAOS_HOME."""
    base = tmp_path_factory.mktemp("analytics")
    project = _copy_pilot(base)
    _edit_yaml(project / "project.yaml",
               lambda d: d["cost_policy"].update(local_cpu_hour_usd=RATE, max_budget_usd=0.5))
    home = base / "home"
    runs = []
    for out in ("first", "second"):
        result = render(project / "project.yaml", base / out, home)
        assert result.returncode == 0, result.stderr
        runs.append(json.loads((base / out / "run_summary.json").read_text()))
    return {"base": base, "home": home, "project": project / "project.yaml", "summaries": runs}


def _sql(home: Path, sql: str, params=()) -> list[tuple]:
    """A direct query of naos.duckdb, as `duckdb .naos/naos.duckdb` would run it."""
    con = duckdb.connect(str(home / "naos.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def test_each_run_writes_its_own_parquet_files(renders):
    for summary in renders["summaries"]:
        for table in RUN_TABLES:
            assert parquet_path(renders["home"], table, summary["run_id"]).stat().st_size > 0, table
        assert is_written(renders["home"], summary["run_id"])
    leftovers = [p for p in (renders["home"] / "analytics").rglob("*") if p.is_file() and p.suffix != ".parquet"]
    assert leftovers == []  # temp files were renamed into place


def test_views_hold_runs_stages_cache_events_and_costs(renders):
    home = renders["home"]
    first, second = renders["summaries"]
    rows = _sql(home, "SELECT run_id, job, project_id, episode_id, season, status, cache_hits, cache_misses "
                      "FROM runs ORDER BY started_at")
    assert rows == [(s["run_id"], "render_episode", "pilot", "s01e01", 1, "success", s["cache_hits"],
                     s["cache_misses"]) for s in (first, second)]
    for s in (first, second):
        stages = _sql(home, "SELECT stage, status, duration_s, cache_hit FROM stage_timings WHERE run_id = ? "
                            "ORDER BY stage", [s["run_id"]])
        assert stages == sorted((t["stage"], t["status"], t["duration_s"], t["cache_hit"]) for t in s["stages"])
        hits, misses = _sql(home, "SELECT count(*) FILTER (hit), count(*) FILTER (NOT hit) FROM cache_events "
                                  "WHERE run_id = ?", [s["run_id"]])[0]
        assert (hits, misses) == (s["cache_hits"], s["cache_misses"])
        shots = dict(_sql(home, "SELECT key, hit FROM cache_events WHERE run_id = ? AND kind = 'shot'",
                          [s["run_id"]]))
        assert shots == s["shot_cache"] and len(shots) == 10
    assert first["cache_hits"] == 0 and first["cache_misses"] > 0  # all misses on a fresh NAOS_HOME
    assert second["cache_misses"] == 0 and second["cache_hits"] == first["cache_misses"]  # all hits the second time

    costs = _sql(home, "SELECT run_id, stage, kind, cpu_s, usd FROM costs ORDER BY run_id, stage")
    assert {kind for _, _, kind, _, _ in costs} == {"local_compute"}  # the pilot's assets are all from the library
    for _, _, _, cpu_s, usd in costs:
        assert usd == pytest.approx(cpu_s * RATE / 3600, rel=1e-12)
    expected = {(s["run_id"], t["stage"]): t["duration_s"] for s in (first, second) for t in s["stages"]}
    assert {(run_id, stage): cpu_s for run_id, stage, _, cpu_s, _ in costs} == expected
    total_first, total_second = (_sql(home, "SELECT sum(usd) FROM costs WHERE run_id = ?", [s["run_id"]])[0][0]
                                 for s in (first, second))
    assert total_first > total_second > 0  # the cached run cost less


def test_naos_cost_equals_direct_sql(renders):
    home, project = renders["home"], renders["project"]
    result = naos("cost", "--project", str(project), "--json", home=home)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    per_run = {r["run_id"]: r for r in report["runs"]}
    direct = _sql(home, "SELECT r.run_id, sum(c.usd), sum(c.cpu_s), any_value(r.cache_hits), "
                        "any_value(r.cache_misses) FROM runs r JOIN costs c USING (run_id) GROUP BY r.run_id")
    assert len(direct) == len(per_run) == 2
    for run_id, usd, cpu_s, hits, misses in direct:
        row = per_run[run_id]
        assert (row["usd"], row["cpu_s"]) == (pytest.approx(usd, rel=1e-12), pytest.approx(cpu_s, rel=1e-12))
        assert (row["cache_hits"], row["cache_misses"]) == (hits, misses)
        assert row["cache_hit_rate"] == pytest.approx(hits / (hits + misses))
    (episode_usd, episode_cpu, runs), = _sql(home, "SELECT sum(usd), sum(cpu_s), count(DISTINCT run_id) FROM costs "
                                                  "WHERE episode_id = 's01e01'")
    [episode] = report["episodes"]
    [season] = report["seasons"]
    for rollup in (episode, season, report["total"]):
        assert rollup["runs"] == runs == 2
        assert rollup["usd"] == pytest.approx(episode_usd, rel=1e-12)
        assert rollup["cpu_s"] == pytest.approx(episode_cpu, rel=1e-12)
    assert (episode["episode_id"], season["season"]) == ("s01e01", 1)
    assert report["budget"]["max_budget_usd"] == 0.5
    assert report["budget"]["used_fraction"] == pytest.approx(episode_usd / 0.5, rel=1e-12)

    text = naos("cost", "--project", str(project), "--season", "1", home=home)
    assert text.returncode == 0, text.stderr
    assert "per episode:" in text.stdout and "per season:" in text.stdout and "s01e01" in text.stdout
    assert "of 0.5 USD used" in text.stdout
    none = json.loads(naos("cost", "--project", str(project), "--season", "2", "--json", home=home).stdout)
    assert none["runs"] == [] and none["total"]["usd"] == 0

    bad = naos("cost", "--project", str(project), "--episode", "s09e09", home=home)
    assert bad.returncode == 2 and "episodes" in bad.stderr and "s09e09" in bad.stderr
    missing = naos("cost", "--project", str(project.with_name("nope.yaml")), home=home)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr


_WRITER = """
import sys
from pathlib import Path
from dagster import DagsterInstance
from engines.writing import load_project
from io_managers import Registry
from naos_assets.analytics import write_run
src, dest, project, run_id = sys.argv[1:]
instance = DagsterInstance.from_config(str(Path(src) / "dagster"))
write_run(Path(dest), instance, run_id, load_project(project), registry=Registry.local(Path(src) / "artifacts"))
"""


def test_concurrent_writers_both_land(renders, tmp_path):
    """Two processes write two runs into one fresh NAOS_HOME at once: no writer contention, the views read both."""
    dest = tmp_path / "home"
    ensure_views(dest)  # before any Parquet file: every view exists and is empty
    assert query(dest, "SELECT count(*) AS n FROM runs")[0]["n"] == 0
    assert query(dest, "SELECT count(*) AS n FROM lineage_edges")[0]["n"] == 0
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(renders["home"]), str(dest), str(renders["project"]),
                               s["run_id"]], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
             for s in renders["summaries"]]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    ids = sorted(s["run_id"] for s in renders["summaries"])
    assert [r[0] for r in _sql(dest, "SELECT run_id FROM runs ORDER BY run_id")] == ids
    assert _sql(dest, "SELECT count(DISTINCT run_id) FROM costs")[0][0] == 2
    assert _sql(dest, "SELECT count(DISTINCT run_id) FROM cache_events")[0][0] == 2


LINEAGE = """
WITH RECURSIVE walk(sha256, asset_key, depth, path) AS (
    SELECT sha256, asset_key, 0, [sha256] FROM artifacts WHERE asset_key = 'render_output/video' AND partition = ?
  UNION ALL
    SELECT e.parent_sha256, coalesce(a.asset_key, e.parent_name), w.depth + 1, list_append(w.path, e.parent_sha256)
    FROM walk w JOIN lineage_edges e ON e.child_sha256 = w.sha256
    LEFT JOIN (SELECT DISTINCT sha256, asset_key FROM artifacts) a ON a.sha256 = e.parent_sha256
    WHERE NOT list_contains(w.path, e.parent_sha256)
)
SELECT asset_key, sha256, min(depth) AS depth FROM walk GROUP BY ALL ORDER BY depth, asset_key
"""


def test_lineage_walks_from_the_video_to_script_and_canon(renders):
    home = renders["home"]
    out = renders["base"] / "first"
    rows = _sql(home, LINEAGE, ["s01e01"])
    found = {asset: sha for asset, sha, _ in rows}

    def sha(name: str) -> str:
        return hashlib.sha256((out / name).read_bytes()).hexdigest()

    assert found["render_output/video"] == sha("episode.mp4")
    assert found["script"] == sha("Script.json")
    assert found["canon_snapshot"] == sha("Canon.json")
    assert found["episode_plan"] == sha("EpisodePlan.json")
    assert found["shot_list"] == sha("ShotList.json") and found["render_plan"] == sha("RenderPlan.json")


def test_sensor_skips_runs_already_written(renders):
    """The UI-run sensors: a run `naos render` wrote is skipped; a run with no files yet is written."""
    from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

    from resources import NaosHome, NaosProject
    from sensors.analytics_sensor import record_run_analytics

    home = renders["home"]
    instance = DagsterInstance.from_config(str(home / "dagster"))
    first = renders["summaries"][0]["run_id"]
    run = instance.get_run_by_id(first)
    event = instance.all_logs(first, of_type=DagsterEventType.RUN_SUCCESS)[0].dagster_event
    context = build_run_status_sensor_context(sensor_name="analytics_success_sensor", dagster_event=event,
                                              dagster_instance=instance, dagster_run=run)
    project, naos_home = NaosProject(project_file=str(renders["project"])), NaosHome(naos_home=str(home))
    stamp = parquet_path(home, "runs", first).stat().st_mtime_ns
    assert "already written" in record_run_analytics(context, project, naos_home)
    assert parquet_path(home, "runs", first).stat().st_mtime_ns == stamp

    # a run nobody wrote yet (as from the UI): a NAOS_HOME sharing the registry but with no analytics
    fresh = home.parent / "sensor_home"
    fresh.mkdir()
    (fresh / "artifacts").symlink_to(home / "artifacts", target_is_directory=True)
    message = record_run_analytics(context, project, NaosHome(naos_home=str(fresh)))
    assert "written" in message and is_written(fresh, first)
    assert query(fresh, "SELECT status, job FROM runs") == [{"status": "success", "job": "render_episode"}]


def test_external_spend_is_counted_once(tmp_path):
    """s01e02 needs a sea cave the library lacks; a paid stock source (tests/asset_sources.py, 0.25 USD) supplies it.
    The run that resolved it pays; a re-render reuses the plan (a cache hit) and pays nothing external."""
    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: (
        d["cost_policy"].update(local_cpu_hour_usd=RATE, max_budget_usd=0.2),
        d.update(assets={"sources": [{"source": "tests.asset_sources:StockSearch"}]})))
    home = tmp_path / "home"
    run_ids = []
    for out in ("first", "second"):
        result = render(project / "project.yaml", tmp_path / out, home, episode="s01e02")
        assert result.returncode == 0, result.stderr
        run_ids.append(json.loads((tmp_path / out / "run_summary.json").read_text())["run_id"])
    external = _sql(home, "SELECT run_id, stage, item, cpu_s, usd FROM costs WHERE kind = 'external'")
    assert external == [(run_ids[0], "render_plan", "background:sea_cave", 0.0, 0.25)]
    report = json.loads(naos("cost", "--project", str(project / "project.yaml"), "--episode", "s01e02", "--json",
                             home=home).stdout)
    by_run = {r["run_id"]: r for r in report["runs"]}
    assert (by_run[run_ids[0]]["external_usd"], by_run[run_ids[1]]["external_usd"]) == (0.25, 0)
    spent = _sql(home, "SELECT sum(usd) FROM costs")[0][0]
    assert spent > 0.25 and report["budget"]["spent_usd"] == pytest.approx(spent, rel=1e-12)
    assert report["budget"]["over_budget"] is True
    text = naos("cost", "--project", str(project / "project.yaml"), home=home).stdout
    assert "OVER BUDGET" in text


def test_failed_runs_are_recorded_by_the_cli_and_the_sensor(renders, tmp_path):
    """A render that fails (an unknown profile: exit 2 at render_plan) still gets its rows, from `naos render`; a
    failed run nobody wrote gets the same rows from the failure sensor's path."""
    from dagster import DagsterEventType, DagsterInstance, build_run_status_sensor_context

    from resources import NaosHome, NaosProject
    from sensors.analytics_sensor import record_run_analytics

    home = tmp_path / "home"  # a copy of the rendered home: every step before render_plan is a cache hit
    for part in ("dagster", "artifacts"):
        shutil.copytree(renders["home"] / part, home / part, symlinks=True)
    result = naos("render", "--project", str(renders["project"]), "--episode", "s01e01", "--out",
                  str(tmp_path / "out"), "--profile", "nope", home=home)
    assert result.returncode == 2, result.stderr
    run_id = json.loads((tmp_path / "out" / "run_summary.json").read_text())["run_id"]
    expected = [{"run_id": run_id, "status": "bad_input", "exit_code": 2}]
    assert query(home, "SELECT run_id, status, exit_code FROM runs") == expected
    assert query(home, "SELECT stage, status FROM stage_timings WHERE status = 'failure'") == [
        {"stage": "render_plan", "status": "failure"}]

    for table in RUN_TABLES:  # as if the run had been launched from the UI
        parquet_path(home, table, run_id).unlink()
    instance = DagsterInstance.from_config(str(home / "dagster"))
    event = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)[0].dagster_event
    context = build_run_status_sensor_context(sensor_name="analytics_failure_sensor", dagster_event=event,
                                              dagster_instance=instance,
                                              dagster_run=instance.get_run_by_id(run_id)).for_run_failure()
    record_run_analytics(context, NaosProject(project_file=str(renders["project"])), NaosHome(naos_home=str(home)))
    assert query(home, "SELECT run_id, status, exit_code FROM runs") == expected
    assert query(home, "SELECT count(*) AS n FROM costs WHERE run_id = ?", [run_id])[0]["n"] > 0
