"""`naos`: the one command of §19.0, on the same Dagster definitions and instance the UI shows.

Exit codes: 0 done, 2 bad input, 3 blocked by a gate, 4 pipeline failure, 5 waiting for approval.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import shutil
import socket
import sys
import time
from collections.abc import Collection
from pathlib import Path

EXIT_OK, EXIT_BAD_INPUT, EXIT_BLOCKED, EXIT_FAILED, EXIT_WAITING = 0, 2, 3, 4, 5
REPO_ROOT = Path(__file__).resolve().parents[1]
# Runs this process executes in-process: a run left "started" by a killed `naos` is found by these (reap_dead_runs).
CLI_TAGS = {"naos/host": socket.gethostname(), "naos/pid": str(os.getpid()),
            "naos/site_id": os.environ.get("NAOS_SITE_ID") or socket.gethostname()}  # §35.1


def _say(msg: str) -> None:
    print(f"naos: {msg}", file=sys.stderr, flush=True)


def naos_home() -> Path:
    return Path(os.environ.get("NAOS_HOME", ".naos")).resolve()


def open_registry(home: Path):
    """This deployment's artifact registry (NAOS_REGISTRY, NAOS_S3_*: docs/DEPLOY.md); a bad or missing setting, or
    an S3 bucket that cannot be used, is exit 2 naming the variable, before anything is written."""
    from io_managers.registry import registry_from_env
    from io_managers.s3_settings import check_bucket

    try:
        registry = registry_from_env(home)
        check_bucket(registry.store)
    except ValueError as exc:
        _say(f"bad input: {exc}")
        raise SystemExit(EXIT_BAD_INPUT) from None
    return registry


# NAOS_PROFILE: which instance settings `naos` copies to $NAOS_HOME/dagster/dagster.yaml (docs/DEPLOY.md).
INSTANCE_PROFILES = {"embedded": REPO_ROOT / "dagster.yaml",  # SQLite under $NAOS_HOME/dagster
                     "production": REPO_ROOT / "deploy" / "production" / "dagster.yaml"}  # PostgreSQL


def dagster_instance(home: Path):
    """The instance under $NAOS_HOME/dagster (the NAOS_PROFILE's settings, default embedded), unless DAGSTER_HOME
    points elsewhere. Exits 2 on an unknown profile, an instance of the other profile, or an unset `env:` value."""
    from dagster import DagsterInstance

    profile = os.environ.get("NAOS_PROFILE") or "embedded"
    if profile not in INSTANCE_PROFILES:
        _bad_instance(f"NAOS_PROFILE: unknown profile {profile!r} (one of {', '.join(INSTANCE_PROFILES)})")
    if os.environ.get("DAGSTER_HOME"):
        return _open_instance(DagsterInstance)
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    template = INSTANCE_PROFILES[profile]
    if not config.exists() and template.exists():
        shutil.copyfile(template, config)
    if config.exists() and template.exists():
        _check_instance_profile(config, profile, template)
    os.environ["DAGSTER_HOME"] = str(dagster_home)  # so `dagster dev` in this shell and this run agree
    return _open_instance(DagsterInstance)


def _open_instance(instance_class):
    """DagsterInstance.get(); a PostgreSQL server that cannot be reached (after dagster-postgres's own retries,
    about 6 s) is one line and exit 4, before anything is run or written."""
    root = logging.getLogger()
    if not any(isinstance(f, _OneLinePgRetries) for f in root.filters):
        root.addFilter(_OneLinePgRetries())
    try:
        return instance_class.get()
    except Exception as exc:
        if postgres_outage(exc) is None:
            raise
        _say(outage_message(exc, "nothing was run; start it (or fix NAOS_PG_*), then run the same command again"))
        raise SystemExit(EXIT_FAILED) from None


def postgres_outage(exc: BaseException) -> BaseException | None:
    """The psycopg2 connection error behind `exc` (or dagster-postgres's "too many retries"), if `exc` means the
    instance's PostgreSQL server went away; None for anything else."""
    import psycopg2
    from dagster_postgres.utils import DagsterPostgresException

    found, seen = None, exc
    while seen is not None:
        if isinstance(seen, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            return seen
        if isinstance(seen, DagsterPostgresException):
            found = seen
        seen = seen.__cause__ or seen.__context__
    return found


def outage_message(exc: BaseException, then: str) -> str:
    host, port, db = (os.environ.get(f"NAOS_PG_{k}") for k in ("HOST", "PORT", "DB"))
    server = (f"NAOS_PG_HOST:NAOS_PG_PORT = {host}:{port}, NAOS_PG_DB={db}" if host
              else f"the one {os.environ.get('DAGSTER_HOME')}/dagster.yaml names")
    return f"the Dagster instance's PostgreSQL server ({server}) is unreachable: {_first_line(postgres_outage(exc))}; {then}"


def _first_line(exc) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class _OneLinePgRetries(logging.Filter):
    """dagster-postgres logs every connection retry on the root logger in several lines (psycopg2's message,
    SQLAlchemy's link): one naos line for a streak of retries instead."""

    last = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Retrying failed database connection"):
            return True
        if time.monotonic() - self.last > 60:
            cause = postgres_outage(record.args[0]) if record.args else None
            _say(f"PostgreSQL {os.environ.get('NAOS_PG_HOST')}:{os.environ.get('NAOS_PG_PORT')} unreachable, "
                 f"retrying: {_first_line(cause) if cause else record.getMessage()}")
        self.last = time.monotonic()
        return False


def _bad_instance(message: str):
    _say(f"bad input: {message}")
    raise SystemExit(EXIT_BAD_INPUT)


def _check_instance_profile(config: Path, profile: str, template: Path) -> None:
    """An instance made by the other profile is said and refused, not mixed: the runs of one NAOS_HOME live in
    one storage. Every `env:` value the settings read must be set."""
    import yaml

    def storage(path: Path) -> str:
        return next(iter((yaml.safe_load(path.read_text()) or {}).get("storage") or {"sqlite": None}))

    have, want = storage(config), storage(template)
    if have != want:
        _bad_instance(f"NAOS_PROFILE={profile} wants {want} storage, but {config} (made by another profile) uses "
                      f"{have}: use another NAOS_HOME, or replace that file and migrate (docs/DEPLOY.md)")

    def env_names(node):
        if isinstance(node, dict):
            if set(node) == {"env"} and isinstance(node["env"], str):
                yield node["env"]
            for value in node.values():
                yield from env_names(value)
        elif isinstance(node, list):
            for value in node:
                yield from env_names(value)

    unset = [name for name in env_names(yaml.safe_load(config.read_text())) if name not in os.environ]
    if unset:
        _bad_instance(f"{config} reads {', '.join(unset)}: not set (NAOS_PROFILE={profile}; docs/DEPLOY.md)")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def preflight(project_file: Path, episode: str):
    """Everything checkable before a run: exit 2 here writes nothing to the registry or the instance."""
    from engines.audio.voice import check_voices
    from engines.media import check_library_paths
    from engines.writing import library_root, load_outline, load_project, load_story_arc, plan_episode

    project = load_project(project_file)
    outline, outline_sha = load_outline(project, project_file, episode)
    arc, arc_sha = load_story_arc(project, project_file)
    plan_episode(project, project_file, episode, outline, outline_sha, arc, arc_sha)
    check_library_paths(project, library_root(project, project_file), project_file)
    check_voices(project, project_file)
    return project


def executor_config(workers: int) -> dict:
    """The run's executor (naos_assets/executors.py): multiprocess for --workers N>1, else NAOS_EXECUTOR's choice.
    Celery is checked once per command: a queue no live worker serves would leave the run waiting for ever, so
    that is exit 2 before any run starts."""
    from naos_assets.executors import executor_config as choose

    try:
        config = choose(workers)
    except ValueError as exc:
        _bad_instance(str(exc))
    if "celery" in config:
        _check_celery_workers()
    return config


@functools.cache  # once per command: a failed check exits, so only success is kept
def _check_celery_workers() -> None:
    from naos_assets.executors import NEEDED_QUEUES, celery_app, served_queues

    broker = os.environ.get("NAOS_CELERY_BROKER") or "the default broker (NAOS_CELERY_BROKER unset)"
    try:
        served = served_queues(celery_app())
    except Exception as exc:  # kombu's connection errors vary by transport
        _bad_instance(f"NAOS_CELERY_BROKER: cannot reach {broker}: {exc}")
    missing = [q for q in NEEDED_QUEUES if not any(q in queues for queues in served.values())]
    if missing:
        _bad_instance(f"NAOS_EXECUTOR=celery: no Celery worker on {broker} serves {', '.join(missing)} "
                      f"(live workers: {', '.join(served) or 'none'}): start `naos worker` (docs/DEPLOY.md, "
                      f"\"Celery workers\"), or set NAOS_EXECUTOR=in_process")


def open_location(project_file: Path):
    """NAOS_HOME, its Dagster instance and the NAOS code location, as every run of this command uses them."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    home = naos_home()
    open_registry(home)  # its settings are checked before the instance is touched
    # The code location reads these; multiprocess steps inherit them.
    os.environ["NAOS_HOME"], os.environ["NAOS_PROJECT"] = str(home), str(project_file)
    instance = dagster_instance(home)
    reap_dead_runs(instance)
    apply_queue_sizes(instance)
    repo = ReconstructableRepository.for_module("naos_assets.definitions", "defs", working_directory=str(REPO_ROOT))
    return home, instance, repo


def reap_dead_runs(instance) -> None:
    """A `naos` killed mid-run leaves its run "started" for ever, holding its queue (pool) slots, so the next run
    would wait for slots nobody frees. A run this host's `naos` started whose process is gone is marked failed and
    its slots freed (the daemon's run monitoring does this for runs launched from the UI)."""
    from dagster import DagsterRunStatus, RunsFilter

    host = socket.gethostname()
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING],
                                            tags={"naos/host": host})):
        pid = int(run.tags.get("naos/pid", "0") or 0)
        if pid <= 0 or pid == os.getpid() or _alive(pid):
            continue
        instance.report_run_failed(run, f"naos: the process that ran it (pid {pid}) is gone (killed?)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        _say(f"run {run.run_id} ({run.job_name}) was left started by a killed naos (pid {pid}): marked failed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def apply_queue_sizes(instance) -> None:
    from naos_assets.queues import apply_queue_sizes as apply

    apply(instance)


def exit_code_of(failures: list[tuple[str | None, str, dict]]) -> int:
    codes = [meta.get("naos/exit_code", EXIT_FAILED) for _, _, meta in failures] or [EXIT_FAILED]
    return min(codes) if EXIT_BAD_INPUT in codes else max(codes)


def settle_earlier_canon(instance, repo, project, episode: str, settled: Collection[str] = (),
                         tags: dict[str, str] | None = None, in_process: bool = False) -> int:
    """The canon of an episode folds the diffs of the episodes before it: run each of them through the Canon
    Gate first (cache hits when nothing changed). A blocked earlier episode stops here with its contradictions.
    `settled`: earlier episodes known to have passed the gate already (a backfill's earlier episodes).
    `in_process`: these runs in this process whatever the executor (a concurrent backfill's canon phase)."""
    from dagster import execute_job

    from engines.canon import DuckDBCanonStore
    from naos_assets.run_summary import failure_metadata

    order = [e.id for e in project.episodes]
    earlier = order[:order.index(episode)]
    job = repo.get_reconstructable_job("canon_check")
    unsettled = [past for past in earlier if past not in settled]
    for i, past in enumerate(unsettled, 1):
        _say(f"canon: checking {past} ({i}/{len(unsettled)}) before {episode}")
        result = execute_job(job, instance=instance, tags={"dagster/partition": past, **CLI_TAGS, **(tags or {})},
                             run_config={"loggers": {"naos_progress": {}},
                                         "execution": {"config": {"in_process": {}} if in_process else executor_config(1)}})
        if not result.success:
            failures = failure_metadata(instance, result.run_id)
            for step, message, _ in failures:
                _say(f"{past} {step}: {message}")
            code = exit_code_of(failures)
            _say(f"the canon of {episode} needs {past} to pass the Canon Gate first; fix {past}, then run again")
            return code
    statuses = DuckDBCanonStore(naos_home() / "canon.duckdb").latest_diffs(project.id) if earlier else {}
    pending = [past for past in earlier if statuses[past][1] != "approved"]
    if pending:
        _say(f"the CanonDiffs of {', '.join(pending)} await approval (human_checkpoints.approve_canon_diff): "
             f"the canon of {episode} does not include them yet")
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from schemas import InputError

    project_file = Path(args.project).resolve()
    try:
        project = preflight(project_file, args.episode)
    except InputError as exc:
        _say(f"bad input: {exc}")
        return EXIT_BAD_INPUT
    home, instance, repo = open_location(project_file)
    add_episode_partitions(instance, project, project_file)
    code = settle_earlier_canon(instance, repo, project, args.episode)
    if code != EXIT_OK:
        return code
    code, _ = render_episode(home, instance, repo, project, args.episode, args.profile, args.workers, Path(args.out))
    return code


def add_episode_partitions(instance, project, project_file: Path) -> None:
    """Every episode of the project a partition, and the authored files' versions observed (naos_assets/sources.py),
    so the runs record what they were made from and the UI can tell when a file has changed since."""
    from naos_assets import sources
    from naos_assets.partitions import episodes

    missing = [e.id for e in project.episodes if not instance.has_dynamic_partition(episodes.name, e.id)]
    if missing:
        instance.add_dynamic_partitions(episodes.name, missing)
    sources.report(instance, project_file)
    from naos_assets.canon.ledger import report_canon_before
    from resources import NaosHome

    store = NaosHome(naos_home=str(naos_home())).canon_store()
    report_canon_before(instance, store, project.id, [e.id for e in project.episodes])


def render_episode(home: Path, instance, repo, project, episode: str, profile: str, workers: int, out: Path,
                   tags: dict[str, str] | None = None, canon_settled: bool = False):
    """One run of `render_episode` for one episode partition (its earlier canon settled already), then what
    `naos render` does after it: files into `out`, run_summary.json, analytics, alerts, cache pruning.
    `canon_settled`: this episode's own canon_check run has just passed, so the run starts after the Canon Gate.
    Returns (exit code, RunSummary)."""
    from dagster import execute_job

    from naos_assets.run_summary import awaiting_approvals, build_run_summary, failure_metadata

    job = repo.get_reconstructable_job("render_episode")
    run_config = {"ops": {"render_plan": {"config": {"profile": profile}}}, "loggers": {"naos_progress": {}},
                  "execution": {"config": executor_config(workers)}}
    _say(f"rendering {project.id}/{episode} ({profile}, {workers} worker(s)) into {out}; NAOS_HOME={home}")
    started = time.time()
    result = execute_job(job, instance=instance, run_config=run_config,
                         tags={"dagster/partition": episode, **CLI_TAGS, **(tags or {})},
                         asset_selection=after_the_gate() if canon_settled else None)
    finished = time.time()
    run_id = result.run_id
    failures = failure_metadata(instance, run_id)
    waiting = awaiting_approvals(instance, run_id) if result.success else []
    if waiting:  # §27: a checkpoint paused the run (everything after it skipped); a pause, not a failure
        code, status = EXIT_WAITING, "waiting_for_approval"
        for review in waiting:
            _say(f"{review['checkpoint']}: waiting for approval: {review['what']} ({review['artifact_sha256'][:12]}); "
                 f"{review['gated']} and everything after it wait. Run `naos approve --project {os.environ.get('NAOS_PROJECT', 'project.yaml')} "
                 f"--episode {episode} --checkpoint {review['checkpoint']} --by NAME [--note TEXT]` "
                 f"(or `naos reject ...`), then this command again")
    elif result.success:
        code, status = EXIT_OK, "success"
    else:
        code = exit_code_of(failures)
        status = {EXIT_BAD_INPUT: "bad_input", EXIT_BLOCKED: "blocked", EXIT_WAITING: "waiting_for_approval"}.get(
            code, "failure")
        for step, message, _ in failures:
            _say(f"{step}: {message}")
    summary = build_run_summary(instance, run_id, project.id, episode, status, code, started, finished)
    for check in summary.quality_checks:
        if check.name == "listening_test":
            _say(f"listening test: {'passed' if check.passed else 'WARNING'}: {check.detail}")
    for warning in summary.warnings:
        _say(f"warning: {warning}")
    out.mkdir(parents=True, exist_ok=True)
    if code == EXIT_OK:
        export(home, episode, out)
    _write_atomic(out / "run_summary.json", summary.canonical_bytes())
    record_analytics(home, instance, project, summary)
    if code != EXIT_BAD_INPUT:  # a success too may raise budget_exceeded or excessive_retries
        raise_alerts(home, instance, run_id)  # what the alert sensors do for runs launched from the UI
    _say(f"run {run_id}: {status} in {summary.duration_s:.1f}s, cache hits {summary.cache_hits}, "
         f"misses {summary.cache_misses}")
    if code == EXIT_OK:
        _say(f"video: {out / 'episode.mp4'}")
        prune_after_run(home)  # what the cache_prune_sensor does after runs launched from the UI
    return code, summary


def after_the_gate() -> list:
    """render_episode's assets without what canon_check materializes: a run whose canon is settled starts at the
    voice-over. The CanonDiff's approval checkpoint stays in: a diff still waiting pauses this run too (exit 5)."""
    from dagster import AssetKey

    from naos_assets.definitions import defs

    def keys(job: str) -> set:
        return set(defs.resolve_job_def(job).asset_layer.executable_asset_keys)

    return sorted(keys("render_episode") - (keys("canon_check") - {AssetKey("canon_diff_approval")}))


def cmd_backfill(args: argparse.Namespace) -> int:
    """Re-render a season or a list of episodes, one run per episode in canon order (naos_assets/backfill.py)."""
    from naos_assets.backfill import backfill

    return backfill(Path(args.project).resolve(), season=args.season, episodes=args.episodes, profile=args.profile,
                    workers=args.workers, out=Path(args.out), concurrency=args.concurrency)


def raise_alerts(home: Path, instance, run_id: str) -> None:
    from sensors.alert_sensor import run_alerts
    from sensors.alerting import AlertEmitter

    try:
        emitter = AlertEmitter.from_env(home)
        for alert in run_alerts(instance, run_id):
            if emitter.emit(alert) is not None:
                _say(f"alert {alert.alert_type} ({alert.stage}) logged to {emitter.log_path}")
    except Exception as exc:  # an alert that cannot be raised must not change the run's outcome
        _say(f"alerts for run {run_id}: {exc}")


def record_analytics(home: Path, instance, project, summary) -> None:
    """The run's rows for $NAOS_HOME/naos.duckdb (docs/ANALYTICS.md); a failure here never fails the render."""
    from naos_assets.analytics import write_run

    try:
        write_run(home, instance, summary.run_id, project, summary=summary)
    except Exception as exc:  # analytics are a report on the run, not part of it
        _say(f"analytics for run {summary.run_id}: {exc}")


def add_project_arg(parser: argparse.ArgumentParser, help: str = "project.yaml (default $NAOS_PROJECT)") -> None:
    """--project, required unless NAOS_PROJECT names the file (as it does for `make dev` and the UI)."""
    default = os.environ.get("NAOS_PROJECT") or None
    parser.add_argument("--project", default=default, required=default is None, help=help)


def load_checked(project_file: str | Path, episode: str | None = None):
    """A command's project file, and its --episode if one is given: the Project, or None once the reason is said
    (the command then exits 2)."""
    from engines.writing import load_project
    from schemas import InputError

    project_file = Path(project_file).resolve()
    try:
        project = load_project(project_file)
    except InputError as exc:
        _say(f"bad input: {exc}")
        return None
    if episode is not None and episode not in [e.id for e in project.episodes]:
        _say(f"bad input: {project_file}: episodes: no episode {episode!r}")
        return None
    return project


def cmd_cost(args: argparse.Namespace) -> int:
    """Cost rollups per run, episode and season, and budget use, from the views in $NAOS_HOME/naos.duckdb."""
    from naos_assets.analytics import cost_report, format_report, report_json

    project = load_checked(args.project, args.episode)
    if project is None:
        return EXIT_BAD_INPUT
    if args.season is not None and args.season < 1:
        _say(f"bad input: --season: {args.season} is not a season number (1, 2, ...)")
        return EXIT_BAD_INPUT
    report = cost_report(naos_home(), project, episode=args.episode, season=args.season)
    print(report_json(report) if args.json else format_report(report))
    return EXIT_OK


def prune_after_run(home: Path) -> None:
    from resources import default_cache_max_bytes
    from sensors.cache_sensor import MIN_IDLE

    report = open_registry(home).cache_prune(default_cache_max_bytes(), min_idle=MIN_IDLE)
    if report.evicted or report.expired:
        _say(f"cache: {report.expired} expired and {report.evicted} least recently used entries removed "
             f"({_size(report.freed_bytes)} freed; budget NAOS_CACHE_MAX_BYTES)")


def export(home: Path, episode: str, out: Path) -> None:
    """Copy the episode's artifacts out of the registry (verified on the way) into --out (naos_assets/exports.py,
    the same files every render_output materialization exports to $NAOS_HOME/out/<episode>/), and say the gates."""
    from naos_assets.exports import export_episode

    output = export_episode(open_registry(home), episode, out)
    for check in output.quality_checks:
        _say(f"quality gate {check.name}: {'passed' if check.passed else 'FAILED (blocks publish)'}: {check.detail}")
    for issue in output.rights.issues if output.rights else []:
        _say(f"rights gate: {issue.asset_id} ({issue.license_type}): {issue.problem} (blocks publish)")


def cmd_publish(args: argparse.Namespace) -> int:
    """Publish a rendered episode behind the quality and rights gates (exit 3 when a gate blocks it)."""
    from dagster import execute_job

    from naos_assets.run_summary import failure_metadata
    from schemas import PublishRecord

    project_file = Path(args.project).resolve()
    if args.rights_override and not (args.approver or "").strip():
        _say("bad input: --rights-override needs --approver ID (recorded in the PublishRecord)")
        return EXIT_BAD_INPUT
    if load_checked(project_file, args.episode) is None:
        return EXIT_BAD_INPUT
    home, instance, repo = open_location(project_file)
    registry = open_registry(home)
    if registry.get_ref("render_output", args.episode) is None:
        _say(f"{args.episode} is not rendered on this NAOS_HOME ({home}): run `naos render` first")
        return EXIT_BAD_INPUT
    config = {"rights_override": bool(args.rights_override), "approver": args.approver or "",
              "reason": args.reason or ""}
    result = execute_job(repo.get_reconstructable_job("publish_episode"), instance=instance,
                         tags={"dagster/partition": args.episode, **CLI_TAGS},
                         run_config={"ops": {"publish": {"config": config}}, "loggers": {"naos_progress": {}},
                                     "execution": {"config": executor_config(1)}})
    if not result.success:
        failures = failure_metadata(instance, result.run_id)
        for step, message, _ in failures:
            _say(f"{step}: {message}")
        return exit_code_of(failures)
    record = PublishRecord.model_validate_json(registry.get_bytes(registry.get_ref("publish", args.episode)["sha256"]))
    if record.rights.override is not None:
        _say(f"rights gate overridden by {record.rights.override.approver} (recorded in PublishRecord.json)")
    _say(f"published {args.episode}: {home / record.destination}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Every file, then the whole season through the Canon Gate in episode order (no Dagster run, no render)."""
    from engines.canon import CanonDiffError, describe_contradiction
    from engines.writing import check_season, load_project
    from schemas import InputError

    project_file = Path(args.project).resolve()
    blocked = 0
    try:
        project = load_project(project_file)
        for ep in project.episodes:
            preflight(project_file, ep.id)
        for check in check_season(project, project_file):
            result = check.result
            _say(f"{check.plan.episode_id}: {result.status} ({len(result.errors)} contradiction(s), "
                 f"{len(result.warnings)} warning(s))")
            for c in [*result.errors, *result.warnings]:
                _say(f"  - {c.severity}: {describe_contradiction(c)}")
            blocked += result.status == "blocked"
    except (InputError, CanonDiffError) as exc:
        _say(f"bad input: {exc}")
        return EXIT_BAD_INPUT
    if blocked:
        _say(f"{project_file}: {blocked} episode(s) blocked by the Canon Gate")
        return EXIT_BLOCKED
    _say(f"{project_file}: valid ({len(project.episodes)} episodes, all through the Canon Gate)")
    return EXIT_OK


def cmd_audiobook(args: argparse.Namespace) -> int:
    """The season as one .m4b (a chapter per episode), from the episodes already rendered on this NAOS_HOME."""
    from dagster import execute_job

    from naos_assets.run_summary import failure_metadata
    from schemas import SeasonAudiobook

    project_file = Path(args.project).resolve()
    if load_checked(project_file) is None:
        return EXIT_BAD_INPUT
    home, instance, repo = open_location(project_file)
    result = execute_job(repo.get_reconstructable_job("season_m4b"), instance=instance, tags=CLI_TAGS,
                         run_config={"loggers": {"naos_progress": {}}, "execution": {"config": executor_config(1)}})
    if not result.success:
        failures = failure_metadata(instance, result.run_id)
        for step, message, _ in failures:
            _say(f"{step}: {message}")
        return exit_code_of(failures)
    registry = open_registry(home)
    ref = registry.get_ref("season_audiobook", None)
    book = SeasonAudiobook.model_validate_json(registry.get_bytes(ref["sha256"]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    registry.export(ref["sha256"], out / "SeasonAudiobook.json")
    registry.export(book.m4b.sha256, out / "season.m4b")
    _say(f"audiobook: {out / 'season.m4b'} ({len(book.chapters)} chapters)")
    return EXIT_OK


def cmd_cache(args: argparse.Namespace) -> int:
    """What the cache holds (rendered shots, TTS takes, resolved assets, stage artifacts), and pruning it."""
    from datetime import timedelta

    from resources import default_cache_max_bytes, parse_size

    registry = open_registry(naos_home())
    try:
        budget = parse_size(args.max_size) if args.max_size is not None else default_cache_max_bytes()
    except ValueError as exc:
        _say(f"bad input: --max-size / NAOS_CACHE_MAX_BYTES: {exc}")
        return EXIT_BAD_INPUT
    if args.action == "prune":
        idle = timedelta(minutes=args.min_idle_minutes)
        report = registry.cache_prune(budget, min_idle=idle if idle else None)
        _say(f"cache pruned to {_size(budget)}: {report.expired} expired, {report.evicted} evicted, "
             f"{report.dangling} dangling; freed {_size(report.freed_bytes)}; kept {report.kept_entries} entries "
             f"({_size(report.kept_bytes)} cache-only, {report.live_kept} objects current artifacts still use)")
        return EXIT_OK
    stats = registry.cache_stats()
    print(json.dumps({**stats, "max_bytes": budget}, indent=2, sort_keys=True))
    _say(f"cache: {stats['entries']} entries, {_size(stats['bytes'])} ({_size(stats['cache_only_bytes'])} cache-only, "
         f"budget {_size(budget)})")
    return EXIT_OK


def cmd_registry(args: argparse.Namespace) -> int:
    """`naos registry check`: the consistency walk (io_managers/registry_check.py); 0 consistent, 4 not."""
    from io_managers import RecordIndexUnavailable

    registry = open_registry(naos_home())
    try:
        report = registry.check()
    except RecordIndexUnavailable as exc:
        _say(str(exc))
        return EXIT_FAILED
    print(json.dumps(report.to_dict(), indent=2, sort_keys=True) if args.json else report.text())
    return EXIT_OK if report.ok else EXIT_FAILED


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def cmd_queues(args: argparse.Namespace) -> int:
    """The §13 queues (Dagster pools): size those nobody sized, then show limits, slots in use and steps waiting."""
    from naos_assets.queues import apply_queue_sizes as apply

    instance = dagster_instance(naos_home())
    try:
        limits = apply(instance)
    except ValueError as exc:
        _say(f"bad input: {exc}")
        return EXIT_BAD_INPUT
    rows = []
    for name, limit in limits.items():
        info = instance.event_log_storage.get_concurrency_info(name)
        rows.append({"queue": name, "limit": limit, "in_use": info.active_slot_count,
                     "waiting": info.pending_step_count})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['queue']:<18} limit {r['limit']:>3}  in use {r['in_use']:>3}  waiting {r['waiting']:>3}")
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    """A Celery worker for the NAOS code location, in the foreground: it runs the steps of the queues it serves,
    writing to the instance each run lives in (docs/DEPLOY.md, "Celery workers")."""
    from naos_assets.executors import node_name, parse_queues, run_worker

    try:
        queues = parse_queues(args.queues)
    except ValueError as exc:
        _say(f"bad input: {exc}")
        return EXIT_BAD_INPUT
    if args.concurrency < 1:
        _say(f"bad input: --concurrency: {args.concurrency} (a worker needs at least one process)")
        return EXIT_BAD_INPUT
    home = naos_home()
    os.environ["NAOS_HOME"] = str(home)  # the code location's resources read these, as under `naos render`
    if args.project:
        os.environ["NAOS_PROJECT"] = str(Path(args.project).resolve())
    open_registry(home)  # as for `naos render`: registry and instance settings checked (exit 2) before serving
    dagster_instance(home)  # and DAGSTER_HOME set
    name = node_name(args.name)
    _say(f"worker {name}: serving {', '.join(queues)} with {args.concurrency} process(es) on "
         f"{os.environ.get('NAOS_CELERY_BROKER') or 'the default broker'}; NAOS_HOME={home}, "
         f"NAOS_PROJECT={os.environ.get('NAOS_PROJECT', '(default)')}")
    return run_worker(queues, args.concurrency, name)


def cmd_schemas(args: argparse.Namespace) -> int:
    from schemas.export import export_json_schemas

    written = export_json_schemas(Path(args.out))
    _say(f"wrote {len(written)} JSON Schemas to {args.out}")
    return EXIT_OK


def cmd_voices(args) -> int:
    """`naos voices`: the voices installed here and the project's cast; a sample WAV per voice into --out."""
    from engines.audio import tts
    from engines.audio.casting import CastingError
    from engines.audio.voice import SAMPLE_TEXT, cast, season_context, write_samples
    from engines.writing import load_project
    from schemas import VOICE_ENGINES, InputError

    project = None
    if args.project:
        try:
            project = load_project(Path(args.project).resolve())
        except InputError as exc:
            _say(f"bad input: {exc}")
            return EXIT_BAD_INPUT
    engines = [e.strip() for e in args.engine.split(",")] if args.engine else list(VOICE_ENGINES)
    unknown = [e for e in engines if e not in VOICE_ENGINES]
    if unknown:
        _say(f"--engine: unknown engine {', '.join(unknown)}; known: {', '.join(VOICE_ENGINES)}")
        return EXIT_BAD_INPUT
    missing = [e for e in engines if not tts.engine_available(e)]
    for e in missing:
        _say(f"{e}: not installed here (`make install`)")
    engines = [e for e in engines if e not in missing]
    if not engines:
        return EXIT_FAILED
    if project is not None:
        from engines.writing import load_outline
        from naos_assets.audio.listening import voice_switches

        try:
            outlines = {ep.id: load_outline(project, Path(args.project).resolve(), ep.id)[0] for ep in project.episodes}
        except InputError as exc:
            _say(f"bad input: {exc}")
            return EXIT_BAD_INPUT
        together, _names = season_context(project, outlines, "")
        order = [c.id for c in project.characters] + ["narrator"]  # as the project lists them
        try:  # the cast a render gets: the season's scenes, NAOS_VOICE_ENGINE
            casting = cast(project, together, force_engine=voice_switches()[0])
            for sid, c in ((sid, casting[sid]) for sid in order):
                _say(f"cast: {sid} -> {c.engine}:{c.voice}{' (cast automatically)' if c.cast else ''}")
        except CastingError as exc:
            _say(f"casting: {exc}")
            return EXIT_BAD_INPUT
    rows = write_samples(Path(args.out), engines, args.text or SAMPLE_TEXT,
                         pronunciations=project.pronunciations if project else None, progress=_say)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['engine']:<10} {r['id']:<20} {r['gender']:<7} {r['accent']:<3} {r['label']}")
    _say(f"wrote {len(rows)} samples to {args.out} (nothing was played)")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    from naos_assets.approvals.commands import add_parsers as add_approval_parsers

    parser = argparse.ArgumentParser(prog="naos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    render = sub.add_parser("render", help="render one episode end to end")
    add_project_arg(render)
    render.add_argument("--episode", required=True, help="episode id, e.g. s01e01")
    render.add_argument("--out", required=True, help="folder for Script.json ... episode.mp4, contact_sheet.png, "
                        "run_summary.json")
    render.add_argument("--profile", default="preview_local", help="render profile (default preview_local)")
    render.add_argument("--workers", type=int, default=1,
                        help="shot steps run at once: 1 = in-process (default), N>1 = Dagster's multiprocess executor")
    render.set_defaults(func=cmd_render)
    backfill = sub.add_parser("backfill", help="re-render a season or some episodes, one Dagster run per episode in "
                                               "canon order; a failed episode can be retried alone")
    add_project_arg(backfill)
    which = backfill.add_mutually_exclusive_group(required=True)
    which.add_argument("--season", type=int, help="every episode of this season, e.g. 1 (s01eNN)")
    which.add_argument("--episodes", help="comma-separated episode ids, e.g. s01e02,s01e03 (run in project order)")
    backfill.add_argument("--profile", default="preview_local", help="render profile (default preview_local)")
    backfill.add_argument("--workers", type=int, default=1, help="shot steps run at once in each run (as for render)")
    backfill.add_argument("--concurrency", type=int, default=1,
                          help="episodes rendered at once, each its own run and process, once the canon is settled "
                               "in order (default 1: one episode after another)")
    backfill.add_argument("--out", default="out", help="folder for <episode>/... (as naos render --out) and "
                                                       "backfill.json (default out)")
    backfill.set_defaults(func=cmd_backfill)
    validate = sub.add_parser("validate", help="check a project, its outlines and arc, and the season's canon")
    add_project_arg(validate)
    validate.set_defaults(func=cmd_validate)
    book = sub.add_parser("audiobook", help="the season as one .m4b, once every episode is rendered")
    add_project_arg(book)
    book.add_argument("--out", required=True, help="folder for season.m4b and SeasonAudiobook.json")
    book.set_defaults(func=cmd_audiobook)
    pub = sub.add_parser("publish", help="publish a rendered episode behind the quality and rights gates")
    add_project_arg(pub)
    pub.add_argument("--episode", required=True)
    pub.add_argument("--rights-override", action="store_true",
                     help="publish despite the rights gate (§25.4); needs --approver, recorded in the artifact")
    pub.add_argument("--approver", help="id of the person clearing the assets' rights")
    pub.add_argument("--reason", help="why the override is justified (recorded)")
    pub.set_defaults(func=cmd_publish)
    cache = sub.add_parser("cache", help="cache statistics, or prune it to a size (LRU; expired assets first)")
    cache.add_argument("action", choices=["stats", "prune"])
    cache.add_argument("--max-size", help="budget, e.g. 20GiB or 500MB (default NAOS_CACHE_MAX_BYTES, else 20GiB)")
    cache.add_argument("--min-idle-minutes", type=float, default=60,
                       help="never evict entries used this recently (a run may be reading them); default 60")
    cache.set_defaults(func=cmd_cache)
    registry = sub.add_parser("registry", help="check the artifact registry: refs, records, objects (exit 4 if not whole)")
    registry.add_argument("action", choices=["check"])
    registry.add_argument("--json", action="store_true", help="counts and problems as JSON")
    registry.set_defaults(func=cmd_registry)
    cost = sub.add_parser("cost", help="cost per run, episode and season, and budget use (docs/ANALYTICS.md)")
    add_project_arg(cost)
    cost.add_argument("--episode", help="only this episode, e.g. s01e01")
    cost.add_argument("--season", type=int, help="only this season number, e.g. 1")
    cost.add_argument("--json", action="store_true", help="the same numbers as JSON")
    cost.set_defaults(func=cmd_cost)
    add_approval_parsers(sub)
    queues = sub.add_parser("queues", help="the §13 queues (Dagster pools): limits, slots in use, steps waiting")
    queues.add_argument("--json", action="store_true")
    queues.set_defaults(func=cmd_queues)
    worker = sub.add_parser("worker", help="a Celery worker running the steps of some §13 queues (NAOS_EXECUTOR=celery)")
    worker.add_argument("--queues", help="comma-separated, of cpu_queue, local_ai_queue, media_queue, "
                                         "external_ai_queue (default all four)")
    worker.add_argument("--concurrency", type=int, default=1, help="steps run at once (prefork processes; default 1)")
    worker.add_argument("--name", help="Celery node name (default naos-<pid>; @<host> is added when missing)")
    worker.add_argument("--project", help="project.yaml the steps read (default NAOS_PROJECT, as for the UI)")
    worker.set_defaults(func=cmd_worker)
    voices = sub.add_parser("voices", help="list the voices installed here (and a project's cast); writes a short "
                                           "sample WAV per voice so a writer can choose; plays nothing")
    voices.add_argument("--project", help="project.yaml: show its cast, and say the sample with its pronunciations")
    voices.add_argument("--engine", help="comma-separated, of kokoro, flite, espeak-ng (default all installed)")
    voices.add_argument("--out", default="out/voices", help="folder for <engine>/<voice>.wav (default out/voices)")
    voices.add_argument("--text", help="the sample line (default a line with a name and a year)")
    voices.add_argument("--json", action="store_true", help="the voice table as JSON")
    voices.set_defaults(func=cmd_voices)
    schemas = sub.add_parser("schemas", help="export JSON Schemas")
    schemas.add_argument("--out", default=str(REPO_ROOT / "schemas" / "json"))
    schemas.set_defaults(func=cmd_schemas)
    args = parser.parse_args(argv)
    if args.command not in ("schemas", "voices", "cache", "registry"):
        from naos_assets.executors import chosen_executor

        try:  # before anything loads the definitions, which refuse a bad NAOS_EXECUTOR
            chosen_executor()
        except ValueError as exc:
            _bad_instance(str(exc))
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _say("interrupted; run the same command again to continue from the completed steps")
        return EXIT_FAILED
    except Exception as exc:  # the instance's PostgreSQL server went away mid-command: one line, not a traceback
        if postgres_outage(exc) is None:
            raise
        _say(outage_message(exc, "the completed steps are kept; once it is back, run the same command again (the "
                                 "next naos on this host marks a run it left started failed and frees its slots)"))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
