"""Cost and lineage analytics (§16, §32.4): Parquet files per run, DuckDB views over them in $NAOS_HOME/naos.duckdb.

DuckDB allows one writer per database file, and runs finish concurrently. So no run ever writes to naos.duckdb:
each finished run writes its own Parquet file per table, named by its run id and written atomically (temp file +
rename), under `$NAOS_HOME/analytics/<table>/<run_id>.parquet`. naos.duckdb holds only VIEWS over those globs and
over the artifact registry's record files (`artifacts` and `lineage_edges` need no writer at all). The views are
(re)created by `ensure_views` under an exclusive flock on `naos.duckdb.lock`; readers here take a shared one.

The rows come from the run's Dagster event log, read by `naos_assets.run_summary` (the same RunSummary `naos render`
writes): step timings, `naos/cache_hit` per asset and `naos/shot_cache` per shot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from schemas import Project, RunSummary

# sources that cost nothing per asset: the author's library, the resolver's own cache (paid when first fetched),
# the local generator, and flagged placeholders

_TS = pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {
    "runs": pa.schema([
        ("run_id", pa.string()), ("job", pa.string()), ("project_id", pa.string()), ("episode_id", pa.string()),
        ("season", pa.int32()), ("status", pa.string()), ("exit_code", pa.int32()), ("started_at", _TS),
        ("finished_at", _TS), ("duration_s", pa.float64()), ("cache_hits", pa.int64()), ("cache_misses", pa.int64()),
    ]),
    "stage_timings": pa.schema([
        ("run_id", pa.string()), ("episode_id", pa.string()), ("stage", pa.string()), ("status", pa.string()),
        ("duration_s", pa.float64()), ("cache_hit", pa.bool_()),
    ]),
    "costs": pa.schema([
        ("run_id", pa.string()), ("episode_id", pa.string()), ("stage", pa.string()), ("kind", pa.string()),
        ("item", pa.string()), ("cpu_s", pa.float64()), ("usd", pa.float64()),
    ]),
    "cache_events": pa.schema([
        ("run_id", pa.string()), ("episode_id", pa.string()), ("stage", pa.string()), ("kind", pa.string()),
        ("key", pa.string()), ("hit", pa.bool_()),
    ]),
}
RUN_TABLES = tuple(SCHEMAS)
_DUCK = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT", pa.float64(): "DOUBLE",
         pa.bool_(): "BOOLEAN", _TS: "TIMESTAMPTZ"}
RECORD_COLUMNS = {"sha256": "VARCHAR", "asset_key": "VARCHAR", "partition": "VARCHAR",
                  "parents": "MAP(VARCHAR, VARCHAR)", "params": "JSON", "code_version": "VARCHAR",
                  "media_type": "VARCHAR", "compute_origin": "VARCHAR", "run_id": "VARCHAR", "created_at": "TIMESTAMPTZ",
                  "site_id": "VARCHAR"}
# Records the registry keeps elsewhere than $NAOS_HOME/artifacts/records (S3, the PostgreSQL index): each run's own
# records go to analytics/artifacts/<run_id>.parquet, params as JSON text.
RECORD_SCHEMA = pa.schema([
    ("sha256", pa.string()), ("asset_key", pa.string()), ("partition", pa.string()),
    ("parents", pa.map_(pa.string(), pa.string())), ("params", pa.string()), ("code_version", pa.string()),
    ("media_type", pa.string()), ("compute_origin", pa.string()), ("run_id", pa.string()), ("created_at", _TS),
    ("site_id", pa.string()),
])
# §27.3 audit trail (artifacts/audit/<seq>.json) and §33 alerts (alerts/alerts.jsonl), read where they are written
APPROVAL_COLUMNS = {"seq": "INTEGER", "at": "TIMESTAMPTZ", "project_id": "VARCHAR", "episode_id": "VARCHAR",
                    "checkpoint": "VARCHAR", "artifact": "VARCHAR", "artifact_sha256": "VARCHAR", "decision": "VARCHAR",
                    "by": "VARCHAR", "note": "VARCHAR", "run_id": "VARCHAR", "link": "VARCHAR", "details": "JSON",
                    "prev": "VARCHAR", "sha256": "VARCHAR"}
ALERT_COLUMNS = {"timestamp": "TIMESTAMPTZ", "alert_type": "VARCHAR", "severity": "VARCHAR", "run_id": "VARCHAR",
                 "stage": "VARCHAR", "episode_id": "VARCHAR", "site_id": "VARCHAR", "message": "VARCHAR",
                 "link": "VARCHAR", "delivery": "VARCHAR"}
CLI_STORAGE_VERSION = "v1.4.0"  # readable by the `duckdb` command from the duckdb-cli wheel (1.5.6)
_SEASON = re.compile(r"^s(\d+)e\d+$")


def season_of(episode_id: str | None) -> int | None:
    match = _SEASON.match(episode_id or "")
    return int(match.group(1)) if match else None


def parquet_path(home: Path, table: str, run_id: str) -> Path:
    return Path(home) / "analytics" / table / f"{run_id}.parquet"


def is_written(home: Path, run_id: str) -> bool:
    """The run's rows are in: `runs` is written last, so its file existing means every table's is there."""
    return parquet_path(home, "runs", run_id).exists()


# ---- rows from the event log -------------------------------------------------------------------------------


def _cache_events(instance, run_id: str) -> list[tuple[str, str, str, bool]]:
    """(stage, kind, key, hit) from the metadata RunSummary reads: `naos/cache_hit` per asset (key: its cache key)
    and `naos/shot_cache` per shot (key: the shot id). Last event wins per asset and per shot, as in RunSummary."""
    from dagster import DagsterEventType

    from naos_assets.run_summary import _plain

    stages: dict[str, tuple[str, bool]] = {}
    shots: dict[str, tuple[str, bool]] = {}
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.dagster_event.event_specific_data.materialization
        meta = {k: _plain(v) for k, v in mat.metadata.items()}
        name = "/".join(mat.asset_key.path)
        if "naos/cache_hit" in meta:
            stages[name] = (str(meta.get("naos/cache_key") or name), bool(meta["naos/cache_hit"]))
        if "naos/shot_cache" in meta:
            shots.update({shot: (name, bool(hit)) for shot, hit in meta["naos/shot_cache"].items()})
    return ([(name, "stage", key, hit) for name, (key, hit) in stages.items()]
            + [(asset, "shot", shot, hit) for shot, (asset, hit) in shots.items()])


def _external_costs(instance, run_id: str) -> list[tuple[str, float]]:
    """(asset id, usd) of every asset an external source supplied, and charged for, in this run: the render_plan
    step's `naos/external_purchases` (an asset reused from the cache was paid for by an earlier run)."""
    from dagster import DagsterEventType

    out = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = entry.dagster_event.event_specific_data.materialization
        bought = mat.metadata.get("naos/external_purchases")
        for item in (getattr(bought, "value", bought) or []):
            out.append((item["asset_id"], float(item["usd"])))
    return out


def _ts(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def run_rows(instance, summary: RunSummary, project: Project | None, registry=None,
             job: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows for one finished run."""
    run_id = summary.run_id
    episode = summary.episode_id or None
    if job is None:
        run = instance.get_run_by_id(run_id)
        job = run.job_name if run is not None else None
    rate = project.cost_policy.local_cpu_hour_usd if project is not None else 0.0
    stages = [{"run_id": run_id, "episode_id": episode, "stage": s.stage, "status": s.status,
               "duration_s": float(s.duration_s), "cache_hit": s.cache_hit} for s in summary.stages]
    costs = [{"run_id": run_id, "episode_id": episode, "stage": s.stage, "kind": "local_compute", "item": None,
              "cpu_s": float(s.duration_s), "usd": float(s.duration_s) * rate / 3600} for s in summary.stages]
    costs += [{"run_id": run_id, "episode_id": episode, "stage": "render_plan", "kind": "external", "item": asset_id,
               "cpu_s": 0.0, "usd": usd} for asset_id, usd in _external_costs(instance, run_id)]
    cache = [{"run_id": run_id, "episode_id": episode, "stage": stage, "kind": kind, "key": key, "hit": hit}
             for stage, kind, key, hit in _cache_events(instance, run_id)]
    runs = [{"run_id": run_id, "job": job, "project_id": summary.project_id or None, "episode_id": episode,
             "season": season_of(episode), "status": summary.status, "exit_code": summary.exit_code,
             "started_at": _ts(summary.started_at), "finished_at": _ts(summary.finished_at),
             "duration_s": float(summary.duration_s), "cache_hits": summary.cache_hits,
             "cache_misses": summary.cache_misses}]
    return {"runs": runs, "stage_timings": stages, "costs": costs, "cache_events": cache}


def summary_of_run(instance, run_id: str, project: Project | None) -> RunSummary:
    """The RunSummary of a finished run nobody summarised (launched from the UI): status and exit code as
    `naos render` derives them, times from the run's own record."""
    from dagster import DagsterRunStatus

    from naos_assets.cli import EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_OK, EXIT_WAITING, exit_code_of
    from naos_assets.run_summary import awaiting_approvals, build_run_summary, failure_metadata, run_partition

    run = instance.get_run_by_id(run_id)
    stats = instance.get_run_stats(run_id)
    if run.status == DagsterRunStatus.SUCCESS and awaiting_approvals(instance, run_id):
        code, status = EXIT_WAITING, "waiting_for_approval"  # a §27 checkpoint paused it
    elif run.status == DagsterRunStatus.SUCCESS:
        code, status = EXIT_OK, "success"
    else:
        code = exit_code_of(failure_metadata(instance, run_id))
        status = {EXIT_BAD_INPUT: "bad_input", EXIT_BLOCKED: "blocked", EXIT_WAITING: "waiting_for_approval"}.get(
            code, "failure")
    started = stats.start_time or stats.launch_time or stats.enqueued_time or 0.0
    finished = stats.end_time or started
    return build_run_summary(instance, run_id, project.id if project else "", run_partition(run),
                             status, code, started, finished)


# ---- writing ------------------------------------------------------------------------------------------------


def _write_parquet(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.stem}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_run(home: Path, instance, run_id: str, project: Project | None, summary: RunSummary | None = None,
              registry=None, refresh_views: bool = True) -> dict[str, Path]:
    """Write one finished run's rows as one Parquet file per table (no shared file, so no writer contention), then
    refresh the views. `runs` goes last: its file is the marker that the run is fully written."""
    home = Path(home).resolve()
    if registry is None:
        from io_managers.registry import registry_from_env

        registry = registry_from_env(home)
    if summary is None:
        summary = summary_of_run(instance, run_id, project)
    rows = run_rows(instance, summary, project, registry)
    written = {}
    if not _records_are_local_files(home, registry):  # the view cannot glob them: this run's records, as Parquet
        path = parquet_path(home, "artifacts", run_id)
        _write_parquet(path, pa.Table.from_pylist(_run_records(registry, run_id), schema=RECORD_SCHEMA))
        written["artifacts"] = path
    trail = export_audit_trail(home, registry)
    if trail is not None:
        written["approvals"] = trail
    for table in ("stage_timings", "costs", "cache_events", "runs"):
        path = parquet_path(home, table, run_id)
        _write_parquet(path, pa.Table.from_pylist(rows[table], schema=SCHEMAS[table]))
        written[table] = path
    if refresh_views:
        import duckdb

        try:
            ensure_views(home)
        except duckdb.Error as exc:  # e.g. an ad-hoc session holds naos.duckdb open: the files are in place anyway
            raise RuntimeError(f"rows written to {home / 'analytics'}, but the views in naos.duckdb were not "
                               f"refreshed ({exc}); the next write or `naos cost` refreshes them") from exc
    return written


def _records_are_local_files(home: Path, registry) -> bool:
    from io_managers.record_index import StoreRecordIndex
    from io_managers.registry import LocalStore

    store = registry.store
    return (isinstance(store, LocalStore) and isinstance(registry.index, StoreRecordIndex)
            and store.root.resolve() == home / "artifacts")


def audit_copy_path(home: Path) -> Path:
    return Path(home).resolve() / "analytics" / "approvals" / "trail.jsonl"


def export_audit_trail(home: Path, registry) -> Path | None:
    """A registry whose audit trail is not under $NAOS_HOME/artifacts (S3): a copy of the whole trail as JSON lines
    for the `approvals` view, rewritten and renamed into place (the trail is small). None when the trail is local."""
    from io_managers import AuditTrail
    from io_managers.registry import LocalStore

    home = Path(home).resolve()
    store = registry.store
    if isinstance(store, LocalStore) and store.root.resolve() == home / "artifacts":
        return None
    path = audit_copy_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        tmp.write_bytes(b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in AuditTrail(registry).records()))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _run_records(registry, run_id: str) -> list[dict[str, Any]]:
    """The records `run_id` wrote (the first record of an artifact stands, so each record is in one run's file).
    Walks every record: one query on the PostgreSQL index, a GET per record on an S3 store."""
    rows = []
    for record in registry.iter_records():
        if record.get("run_id") != run_id:
            continue
        row = {name: record.get(name) for name in RECORD_SCHEMA.names}
        row["params"] = json.dumps(record.get("params") or {}, sort_keys=True)
        row["parents"] = sorted((record.get("parents") or {}).items())
        row["created_at"] = _ts(record["created_at"]) if record.get("created_at") else None
        rows.append(row)
    return rows


# ---- the views ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _flock(home: Path, exclusive: bool) -> Iterator[None]:
    lock = Path(home) / "naos.duckdb.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _columns(columns: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{c}': '{t}'" for c, t in columns.items()) + "}"


def _empty(columns: dict[str, str]) -> str:
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items()) + " WHERE false"


def view_sql(home: Path) -> dict[str, str]:
    """The SELECT behind every view, over absolute globs (so `duckdb naos.duckdb` works from anywhere). A glob
    without files yet gets an empty typed SELECT; the next write's refresh swaps in the glob."""
    home = Path(home).resolve()
    views = {}
    for table, schema in SCHEMAS.items():
        folder = home / "analytics" / table
        if any(folder.glob("*.parquet")):
            views[table] = f"SELECT * FROM read_parquet({_quote(folder / '*.parquet')}, union_by_name=true)"
        else:
            views[table] = _empty({f.name: _DUCK[f.type] for f in schema})
    # records: the local registry's files where they are, and the per-run Parquet of records kept elsewhere (S3)
    records, remote = home / "artifacts" / "records", home / "analytics" / "artifacts"
    sources = []
    if records.is_dir() and any(records.rglob("*.json")):
        sources.append(f"SELECT * FROM read_json({_quote(records / '**' / '*.json')}, "
                       f"columns={_columns(RECORD_COLUMNS)}, format='auto')")
    if any(remote.glob("*.parquet")):
        sources.append("SELECT " + ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in RECORD_COLUMNS.items())
                       + f" FROM read_parquet({_quote(remote / '*.parquet')}, union_by_name=true)")
    views["artifacts"] = " UNION ALL BY NAME ".join(sources) if sources else _empty(RECORD_COLUMNS)
    audit, copy = home / "artifacts" / "audit", audit_copy_path(home)
    # `by` is an SQL keyword: the view calls it `actor` (the approver, or `naos` for a review request); a trail kept
    # elsewhere (S3) is read from its copy (export_audit_trail)
    if copy.is_file() and copy.stat().st_size:
        source = f"read_json({_quote(copy)}, columns={_columns(APPROVAL_COLUMNS)}, format='newline_delimited')"
    elif any(audit.glob("*.json")):
        source = f"read_json({_quote(audit / '*.json')}, columns={_columns(APPROVAL_COLUMNS)}, format='auto')"
    else:
        source = f"({_empty(APPROVAL_COLUMNS)})"
    views["approvals"] = 'SELECT * EXCLUDE ("by"), "by" AS actor FROM ' + source
    alerts = home / "alerts" / "alerts.jsonl"
    views["alerts"] = (f"SELECT * FROM read_json({_quote(alerts)}, columns={_columns(ALERT_COLUMNS)}, "
                       "format='newline_delimited')" if alerts.is_file() and alerts.stat().st_size
                       else _empty(ALERT_COLUMNS))
    # an input hash equal to the artifact's own (a plan or report that is its own input) is not an edge
    views["lineage_edges"] = (
        "SELECT sha256 AS child_sha256, asset_key AS child_asset, partition, e.key AS parent_name, "
        "e.value AS parent_sha256 FROM artifacts, unnest(map_entries(parents)) AS t(e) WHERE e.value <> sha256")
    return views


def ensure_views(home: Path) -> Path:
    """Create or refresh every view in $NAOS_HOME/naos.duckdb, under an exclusive lock on naos.duckdb.lock."""
    import duckdb

    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    db = home / "naos.duckdb"
    with _flock(home, exclusive=True):  # each open() is its own lock, so threads exclude each other too
        views = view_sql(home)
        # The file holds views only, so it is rebuilt whole and swapped in (readers hold the shared lock). Its storage
        # format is the one the `duckdb` command (the duckdb-cli wheel, 1.5) reads: Python's duckdb 2.0 writes a
        # newer one by default, which that command refuses.
        tmp = db.with_name(f".tmp-{db.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.unlink(missing_ok=True)
        try:
            con = duckdb.connect(str(tmp), config={"storage_compatibility_version": CLI_STORAGE_VERSION})
            try:
                for name, sql in views.items():
                    con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql}")
            finally:
                con.close()
            os.replace(tmp, db)
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
    return db


def query(home: Path, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    """Rows of `sql` over the views (read-only connection, shared lock), as dicts."""
    import duckdb

    home = Path(home).resolve()
    ensure_views(home)  # milliseconds: views over files written since the last refresh (approvals, alerts) see them
    with _flock(home, exclusive=False):
        con = duckdb.connect(str(home / "naos.duckdb"), read_only=True)
        try:
            cur = con.execute(sql, params or [])
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            con.close()


# ---- rollups (`naos cost`) -----------------------------------------------------------------------------------

_RUN_ROLLUP = """
WITH c AS (
    SELECT run_id, sum(usd) AS usd, sum(CASE WHEN kind = 'local_compute' THEN usd ELSE 0 END) AS local_usd,
           sum(CASE WHEN kind = 'external' THEN usd ELSE 0 END) AS external_usd, sum(cpu_s) AS cpu_s
    FROM costs GROUP BY run_id)
SELECT r.run_id, r.job, r.episode_id, r.season, r.status, strftime(r.started_at, '%Y-%m-%dT%H:%M:%SZ') AS started_at,
       coalesce(c.usd, 0) AS usd, coalesce(c.local_usd, 0) AS local_usd, coalesce(c.external_usd, 0) AS external_usd,
       coalesce(c.cpu_s, 0) AS cpu_s, r.cache_hits, r.cache_misses
FROM runs r LEFT JOIN c USING (run_id)
WHERE r.project_id = $1 AND ($2::VARCHAR IS NULL OR r.episode_id = $2) AND ($3::INTEGER IS NULL OR r.season = $3)
"""


def _rollup(key: str) -> str:
    return f"""
WITH per_run AS ({_RUN_ROLLUP})
SELECT {key}, count(*) AS runs, sum(usd) AS usd, sum(local_usd) AS local_usd, sum(external_usd) AS external_usd,
       sum(cpu_s) AS cpu_s, sum(cache_hits) AS cache_hits, sum(cache_misses) AS cache_misses
FROM per_run GROUP BY {key} ORDER BY {key} NULLS LAST
"""


def _rate(row: dict) -> dict:
    total = (row["cache_hits"] or 0) + (row["cache_misses"] or 0)
    return {**row, "cache_hit_rate": (row["cache_hits"] / total) if total else None}


def cost_report(home: Path, project: Project, episode: str | None = None, season: int | None = None) -> dict:
    """Per-run, per-episode and per-season rollups for one project, and budget use, from the views."""
    home = Path(home).resolve()
    ensure_views(home)
    params = [project.id, episode, season]
    runs = [_rate(r) for r in query(home, _RUN_ROLLUP + " ORDER BY r.started_at, r.run_id", params)]
    episodes = [_rate(r) for r in query(home, _rollup("episode_id"), params)]
    seasons = [_rate(r) for r in query(home, _rollup("season"), params)]
    total = {"runs": len(runs), "usd": sum(r["usd"] for r in runs), "cpu_s": sum(r["cpu_s"] for r in runs),
             "cache_hits": sum(r["cache_hits"] for r in runs), "cache_misses": sum(r["cache_misses"] for r in runs)}
    total = _rate(total)
    # the budget is the project's, so it is measured against everything the project spent, whatever the filter
    spent = query(home, "SELECT coalesce(sum(c.usd), 0) AS usd FROM costs c JOIN runs r USING (run_id) "
                        "WHERE r.project_id = $1", [project.id])[0]["usd"]
    cap = project.cost_policy.max_budget_usd
    budget = {"max_budget_usd": cap, "spent_usd": spent,
              "used_fraction": spent / cap if cap > 0 else None, "over_budget": cap > 0 and spent > cap}
    return {"project_id": project.id, "filter": {"episode": episode, "season": season},
            "local_cpu_hour_usd": project.cost_policy.local_cpu_hour_usd, "runs": runs, "episodes": episodes,
            "seasons": seasons, "total": total, "budget": budget}


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.0f}%"


def format_report(report: dict) -> str:
    lines = [f"project {report['project_id']}: cost at {report['local_cpu_hour_usd']:g} USD per local CPU hour"]
    flt = {k: v for k, v in report["filter"].items() if v is not None}
    if flt:
        lines[0] += " (" + ", ".join(f"{k} {v}" for k, v in flt.items()) + ")"
    lines += ["", "per run:", f"  {'run':<36} {'episode':<8} {'job':<16} {'status':<10} {'USD':>10} {'CPU s':>9} "
                               f"{'hit rate':>8}"]
    for r in report["runs"]:
        lines.append(f"  {r['run_id']:<36} {r['episode_id'] or '-':<8} {(r['job'] or '-')[:16]:<16} "
                     f"{r['status']:<10} {r['usd']:>10.4f} {r['cpu_s']:>9.1f} {_pct(r['cache_hit_rate']):>8}")
    for title, key, rows in (("per episode", "episode_id", report["episodes"]),
                             ("per season", "season", report["seasons"])):
        lines += ["", f"{title}:", f"  {key.split('_')[0]:<8} {'runs':>5} {'USD':>10} {'external':>10} {'CPU s':>9} "
                                   f"{'hit rate':>8}"]
        for r in rows:
            label = "-" if r[key] is None else (f"s{r[key]:02d}" if key == "season" else r[key])
            lines.append(f"  {label:<8} {r['runs']:>5} {r['usd']:>10.4f} {r['external_usd']:>10.4f} "
                         f"{r['cpu_s']:>9.1f} {_pct(r['cache_hit_rate']):>8}")
    t, b = report["total"], report["budget"]
    lines += ["", f"total: {t['runs']} run(s), {t['usd']:.4f} USD, {t['cpu_s']:.1f} CPU s, "
                  f"cache hit rate {_pct(t['cache_hit_rate'])}"]
    if b["max_budget_usd"] > 0:
        lines.append(f"budget: {b['spent_usd']:.4f} of {b['max_budget_usd']:g} USD used "
                     f"({_pct(b['used_fraction'])}){' - OVER BUDGET' if b['over_budget'] else ''}")
    else:
        lines.append(f"budget: none set (cost_policy.max_budget_usd); {b['spent_usd']:.4f} USD spent")
    return "\n".join(lines)


def report_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str)
