"""The one executor of every NAOS job: in_process, multiprocess or celery, chosen in run config.

`naos_executor` is Dagster's `multi_or_in_process_executor` with a third branch: each branch hands its own config
to Dagster's executor (or dagster_celery's `celery_executor`), so no execution loop lives here. The Celery branch
puts every step on the Celery queue named by its `dagster-celery/queue` tag (naos_assets/queues.py: the step's
pool); `naos worker` runs a worker for some of those queues with the same settings (docs/DEPLOY.md, "Celery
workers").

| variable | meaning |
|---|---|
| NAOS_EXECUTOR | `in_process` or `celery`; default `celery` under NAOS_PROFILE=production, else `in_process` |
| NAOS_CELERY_BROKER | broker URL, default pyamqp://guest:guest@127.0.0.1:5672// (RabbitMQ) |
| NAOS_CELERY_BACKEND | result backend URL, default rpc:// (results come back as AMQP messages: no store) |
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Mapping

from dagster import (
    Field,
    InitExecutorContext,
    Selector,
    executor,
    in_process_executor,
    multiple_process_executor_requirements,
)
from dagster import multiprocess_executor as dagster_multiprocess_executor
from dagster_celery import celery_executor

from .queues import DEFAULT_QUEUE, QUEUES

EXECUTORS = {"in_process": in_process_executor, "multiprocess": dagster_multiprocess_executor,
             "celery": celery_executor}
CHOICES = ("in_process", "celery")  # NAOS_EXECUTOR; multiprocess is `--workers N`
DEFAULT_BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
DEFAULT_BACKEND = "rpc://"
# A step's message is acknowledged only once the step has finished (acks_late), one message at a time per worker
# process (prefetch 1): a worker that dies mid-step leaves its message unacknowledged, and the broker hands it to
# another worker when the dead one's connection drops. reject_on_worker_lost does the same when only the pool
# child dies (OOM kill): the message is requeued instead of being acknowledged as failed. Celery's own
# idempotency caveat holds: the step runs again from its start, which the registry's writes allow.
CELERY_SETTINGS = {"task_acks_late": True, "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1,
                   "task_default_queue": DEFAULT_QUEUE}
# dagster_celery re-registers its step task on every submission; Celery 5.7 warns each time that the first one
# stands, which is what is wanted.
warnings.filterwarnings("ignore", message="Task name 'execute_plan' is already registered")
# The queues a render needs served (external_ai_queue is reserved: no step uses it yet).
NEEDED_QUEUES = tuple(q for q in QUEUES if q != "external_ai_queue")


def _requirements(config: Mapping[str, object]):
    return multiple_process_executor_requirements() if set(config) & {"multiprocess", "celery"} else []


def chosen_executor(env: Mapping[str, str] = os.environ) -> str:
    """NAOS_EXECUTOR, else celery under NAOS_PROFILE=production, else in_process; ValueError names the variable."""
    raw = env.get("NAOS_EXECUTOR", "").strip()
    if not raw:
        return "celery" if env.get("NAOS_PROFILE") == "production" else "in_process"
    if raw not in CHOICES:
        raise ValueError(f"NAOS_EXECUTOR: unknown executor {raw!r} (one of {', '.join(CHOICES)}; "
                         f"multiprocess is `--workers N`)")
    return raw


def celery_config(env: Mapping[str, str] = os.environ) -> dict:
    """The celery branch's run config. A broker or backend set in the environment is passed as {"env": NAME}, so
    its credentials are read where the run executes and never stored in the run's config."""
    return {"broker": {"env": "NAOS_CELERY_BROKER"} if env.get("NAOS_CELERY_BROKER") else DEFAULT_BROKER,
            "backend": {"env": "NAOS_CELERY_BACKEND"} if env.get("NAOS_CELERY_BACKEND") else DEFAULT_BACKEND,
            "config_source": dict(CELERY_SETTINGS)}


def executor_config(workers: int, env: Mapping[str, str] = os.environ) -> dict:
    """`execution: config:` for a run: multiprocess for `--workers N>1` (forking each step from a server that has
    NAOS imported already, so a step starts in well under a second), else NAOS_EXECUTOR's choice."""
    if workers > 1:
        return {"multiprocess": {"max_concurrent": workers, "start_method": {
            "forkserver": {"preload_modules": ["naos_assets.definitions"]}}}}
    return {"celery": celery_config(env)} if chosen_executor(env) == "celery" else {"in_process": {}}


def default_run_config() -> dict:
    """A job's default run config (UI launchpad, sensors, schedules, backfills): the environment's executor."""
    return {"execution": {"config": executor_config(1)}}


def _default_config() -> dict:
    """The environment's choice, read at import. A bad NAOS_EXECUTOR must not make importing this module fail (the
    CLI reports it as bad input, exit 2); loading the definitions reports it instead (build_definitions)."""
    try:
        return executor_config(1)
    except ValueError:
        return {"in_process": {}}


# The default is the environment's choice, read at load: it is what every job gets when its run config says nothing,
# the implicit asset job of the asset graph and asset backfills included (Definitions(executor=...)).
@executor(
    name="naos",
    config_schema=Field(Selector({name: ex.config_schema.as_field() for name, ex in EXECUTORS.items()}),
                        default_value=_default_config()),
    requirements=_requirements,
)
def naos_executor(init_context: InitExecutorContext):
    """`in_process` (the default), `multiprocess` or `celery`, each configured as Dagster documents it."""
    ((name, config),) = init_context.executor_config.items()
    inner = EXECUTORS[name]
    return inner.executor_creation_fn(InitExecutorContext(job=init_context.job, executor_def=inner,
                                                          executor_config=config, instance=init_context.instance))


def celery_app(env: Mapping[str, str] = os.environ):
    """A Celery app with the settings the executor uses, and dagster_celery's step task registered: what
    `celery -A dagster_celery.app worker` builds from a dagster_celery_config module, without writing one."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    app = make_app(CeleryExecutor.for_cli(broker=env.get("NAOS_CELERY_BROKER") or DEFAULT_BROKER,
                                          backend=env.get("NAOS_CELERY_BACKEND") or DEFAULT_BACKEND,
                                          config_source=dict(CELERY_SETTINGS)).app_args())
    create_task(app)
    return app


def served_queues(app, timeout: float = 2.0) -> dict[str, list[str]]:
    """Each live worker's node name and the queues it consumes (a broadcast: waits `timeout` for the replies)."""
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    return {node: sorted(q["name"] for q in queues) for node, queues in replies.items()}


def parse_queues(raw: str | None) -> list[str]:
    """`--queues a,b`: every name one of the §13 queues (ValueError names the unknown ones); default all four."""
    names = [q.strip() for q in (raw or "").split(",") if q.strip()] or list(QUEUES)
    unknown = [q for q in names if q not in QUEUES]
    if unknown:
        raise ValueError(f"--queues: unknown queue(s) {', '.join(unknown)} (one of {', '.join(QUEUES)})")
    return list(dict.fromkeys(names))


def node_name(name: str | None) -> str:
    """Celery's node name (name@host): the run's "Executing steps ... in celery worker" events carry it."""
    name = name or f"naos-{os.getpid()}"
    return name if "@" in name else f"{name}@{socket.gethostname()}"


def run_worker(queues: list[str], concurrency: int, name: str) -> int:
    """A Celery worker in the foreground on `queues`, `concurrency` prefork processes (each runs one step at a
    time). The NAOS code location is imported before the pool forks, so a step does not pay for it."""
    import naos_assets.definitions  # noqa: F401  (preload, see above)

    app = celery_app()
    argv = ["worker", "--queues", ",".join(queues), "--concurrency", str(concurrency), "--hostname", name,
            "--prefetch-multiplier", "1", "--loglevel", os.environ.get("NAOS_WORKER_LOGLEVEL", "INFO"),
            "--without-gossip", "--without-mingle"]
    try:
        app.worker_main(argv)
    except SystemExit as exc:  # celery's click main exits
        return int(exc.code or 0)
    return 0
