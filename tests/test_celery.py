"""The Celery executor: every step on its §13 queue, `naos worker`, a render spread over two workers, a killed worker.

Real services: RabbitMQ on 127.0.0.1:5672 (a private vhost per test, tests/celery_workers.py) and, for the renders,
NAOS_PROFILE=production on a fresh PostgreSQL database per test (as tests/test_postgres_profile.py). Workers are
`naos worker` subprocesses; results come back over rpc://. A missing service skips, but under CI=true it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from conftest import DRAFT_VOICES

from naos_assets.executors import CELERY_SETTINGS, executor_config, naos_executor
from naos_assets.queues import CELERY_QUEUE_TAG, DEFAULT_QUEUE, QUEUES
from tests.celery_workers import Workers, rabbitmq_vhost
from tests.postgres import fresh_database
from tests.test_cli import GOLDEN, PILOT, ROOT, digests

SHOT_STEP = "shot_clips.render_shot_clip["
RENDER_QUEUES = ["cpu_queue", "local_ai_queue", "media_queue"]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("NAOS_")}
    env.update(DRAFT_VOICES)  # the suite's draft voices (tests/conftest.py), on the workers too
    return {**env, **extra}


def naos(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def render_args(out: Path) -> list[str]:
    return ["render", "--project", str(PILOT / "project.yaml"), "--episode", "s01e01", "--out", str(out)]


def step_queues() -> dict[str, tuple[str | None, str]]:
    """op name -> (pool, Celery queue) for every step of every job."""
    from naos_assets.definitions import defs

    found = {}
    for job_name in ("render_episode", "canon_check", "season_m4b", "publish_episode"):
        for op in defs.resolve_job_def(job_name).graph.iterate_op_defs():
            found[op.name] = (op.pool, op.tags.get(CELERY_QUEUE_TAG))
    return found


def test_every_step_has_matching_pool_and_queue():
    from dagster_celery.tags import DAGSTER_CELERY_QUEUE_TAG

    assert CELERY_QUEUE_TAG == DAGSTER_CELERY_QUEUE_TAG
    found = step_queues()
    assert {"render_shot_clip", "render_output", "render_plan", "script", "publish", "season_audiobook"} <= set(found)
    for op, (pool, queue) in found.items():
        assert queue == (pool or DEFAULT_QUEUE), f"{op}: pool {pool}, Celery queue {queue}"
        assert queue in QUEUES
    assert found["render_shot_clip"] == ("cpu_queue", "cpu_queue")
    assert found["render_plan"] == ("media_queue", "media_queue")
    assert found["voice_over"] == ("local_ai_queue", "local_ai_queue")
    assert found["collect_clips"] == (None, DEFAULT_QUEUE)


def test_executor_choice_and_each_branch_builds_dagsters_executor(monkeypatch):
    """NAOS_EXECUTOR / NAOS_PROFILE / --workers pick the branch; each branch's config builds Dagster's (or
    dagster_celery's) own executor, with the redelivery settings on the Celery one."""
    from dagster import DagsterInstance, InitExecutorContext
    from dagster._config import process_config
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.executor.in_process import InProcessExecutor
    from dagster._core.executor.multiprocess import MultiprocessExecutor
    from dagster_celery.executor import CeleryExecutor

    assert executor_config(1, {}) == {"in_process": {}}
    assert "celery" in executor_config(1, {"NAOS_PROFILE": "production"})
    assert executor_config(1, {"NAOS_PROFILE": "production", "NAOS_EXECUTOR": "in_process"}) == {"in_process": {}}
    assert "multiprocess" in executor_config(3, {"NAOS_EXECUTOR": "celery"})
    with pytest.raises(ValueError, match="NAOS_EXECUTOR: unknown executor 'kubernetes'"):
        executor_config(1, {"NAOS_EXECUTOR": "kubernetes"})
    secret = executor_config(1, {"NAOS_EXECUTOR": "celery", "NAOS_CELERY_BROKER": "pyamqp://u:secret@h//"})
    assert secret["celery"]["broker"] == {"env": "NAOS_CELERY_BROKER"}  # the password never lands in run config

    monkeypatch.setenv("NAOS_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672/naos_x")
    job = ReconstructableRepository.for_module("naos_assets.definitions", "defs", working_directory=str(ROOT)
                                               ).get_reconstructable_job("render_episode")
    instance = DagsterInstance.ephemeral()
    built = {}
    for config, kind in ((executor_config(1, {}), InProcessExecutor), (executor_config(2, {}), MultiprocessExecutor),
                         (executor_config(1, {"NAOS_EXECUTOR": "celery", "NAOS_CELERY_BROKER": "x"}), CeleryExecutor)):
        processed = process_config(naos_executor.config_schema.config_type, config)
        assert processed.success, processed.errors
        built[kind] = naos_executor.executor_creation_fn(InitExecutorContext(
            job=job, executor_def=naos_executor, executor_config=processed.value, instance=instance))
        assert isinstance(built[kind], kind)
    celery = built[CeleryExecutor]
    assert celery.broker == "pyamqp://guest:guest@127.0.0.1:5672/naos_x"
    assert {k: getattr(celery.config_source, k) for k in CELERY_SETTINGS} == CELERY_SETTINGS
    assert naos_executor.get_requirements(processed.value) and not naos_executor.get_requirements({"in_process": {}})


def test_worker_refuses_an_unknown_queue(tmp_path):
    result = naos("worker", "--queues", "cpu_queue,gpu_queue", env=clean_env(NAOS_HOME=str(tmp_path / "home")))
    assert result.returncode == 2, result.stderr
    assert "--queues: unknown queue(s) gpu_queue" in result.stderr and "external_ai_queue" in result.stderr


def test_bad_executor_name_is_bad_input(tmp_path):
    result = naos(*render_args(tmp_path / "out"), env=clean_env(NAOS_HOME=str(tmp_path / "home"),
                                                                NAOS_EXECUTOR="dask"))
    assert result.returncode == 2, result.stderr
    assert "NAOS_EXECUTOR: unknown executor 'dask'" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.fixture
def broker():
    with rabbitmq_vhost() as url:
        yield url


def test_render_with_no_worker_on_a_queue_is_bad_input_before_any_run(tmp_path, broker):
    """A queue nobody serves would leave the run waiting for ever: `naos render` says which, before any run."""
    home = tmp_path / "home"
    env = clean_env(NAOS_HOME=str(home), NAOS_EXECUTOR="celery", NAOS_CELERY_BROKER=broker)
    with Workers(broker, env, tmp_path / "logs") as workers:
        workers.start("media", ["media_queue"])
        result = naos(*render_args(tmp_path / "out"), env=env)
    assert result.returncode == 2, result.stderr
    assert "no Celery worker" in result.stderr and "serves cpu_queue, local_ai_queue" in result.stderr
    assert "naos-test-media@" in result.stderr
    assert not (tmp_path / "out").exists()
    assert not (home / "artifacts" / "refs").exists()  # nothing was run, so nothing was written


@pytest.fixture
def production(tmp_path):
    """NAOS_PROFILE=production on a fresh PostgreSQL database (dropped afterwards), and a fresh NAOS_HOME."""
    with fresh_database() as pg:
        # the local registry: the S3 one is tests/test_s3_store.py's; one NAOS_HOME serves the workers and `naos`
        yield clean_env(**pg, NAOS_PROFILE="production", NAOS_REGISTRY="local",
                        NAOS_HOME=str(tmp_path / "home"), NAOS_PROJECT=str(PILOT / "project.yaml"))


def _executing(message: str | None) -> bool:
    """dagster_celery's event in the worker: "[CeleryExecutor] Executing steps <key> in celery worker"."""
    return bool(message) and "Executing steps" in message and message.endswith("in celery worker")


def celery_events(env: dict[str, str], run_id: str):
    """(step key -> Celery node names that executed it, in order; the run's events) from the run's instance."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("NAOS_PG_")})
    try:
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(Path(env["NAOS_HOME"]) / "dagster"))) as instance:
            events = instance.all_logs(run_id)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    ran_on = defaultdict(list)
    for e in events:
        de = e.dagster_event
        if de and de.event_type_value == "ENGINE_EVENT" and _executing(de.message):
            ran_on[e.step_key].append(de.event_specific_data.metadata["Celery worker"].text)
    return ran_on, events


def overhead(events) -> str:
    """Mean seconds from the executor's submission to the worker taking the step, and from there to STEP_START."""
    submitted, taken, started = {}, {}, {}
    for e in events:
        de = e.dagster_event
        if not de or not e.step_key:
            continue
        if de.event_type_value == "ENGINE_EVENT" and de.message.startswith("Submitting celery task"):
            submitted.setdefault(e.step_key, e.timestamp)
        elif de.event_type_value == "ENGINE_EVENT" and _executing(de.message):
            taken.setdefault(e.step_key, e.timestamp)
        elif de.event_type_value == "STEP_START":
            started.setdefault(e.step_key, e.timestamp)
    keys = [k for k in submitted if k in taken and k in started]
    wait = sum(taken[k] - submitted[k] for k in keys) / len(keys)
    setup = sum(started[k] - taken[k] for k in keys) / len(keys)
    return f"{len(keys)} steps: submit -> worker {wait:.2f}s, worker -> STEP_START {setup:.2f}s (means)"


def op_of(step_key: str) -> str:
    return step_key.split("[")[0].split(".")[-1]


@pytest.mark.slow
def test_two_workers_render_the_golden_episode(tmp_path, production, broker):
    """The production default executor is Celery: the pilot renders on two workers to the golden bytes; the shot
    steps ran on both; every step came from its pool's queue (the cpu-only worker ran nothing else)."""
    env = {**production, "NAOS_CELERY_BROKER": broker}
    with Workers(broker, env, tmp_path / "logs") as workers:
        cpu = workers.start("cpu", ["cpu_queue"])
        every = workers.start("every", RENDER_QUEUES)
        started = time.monotonic()
        result = naos(*render_args(tmp_path / "out"), env=env)
        wall = time.monotonic() - started
    assert result.returncode == 0, result.stderr + cpu.text()[-3000:] + every.text()[-3000:]
    assert digests(tmp_path / "out") == json.loads(GOLDEN.read_text())
    run_id = json.loads((tmp_path / "out" / "run_summary.json").read_text())["run_id"]
    ran_on, events = celery_events(env, run_id)
    started_steps = {e.step_key for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_START"}
    assert started_steps and started_steps <= set(ran_on)  # every step went through a worker
    shots = {key: nodes for key, nodes in ran_on.items() if key.startswith(SHOT_STEP)}
    assert len(shots) >= 2 and all(len(nodes) == 1 for nodes in shots.values())
    assert {nodes[0] for nodes in shots.values()} == {cpu.name, every.name}
    queues = {op: queue for op, (_, queue) in step_queues().items()}
    served = {cpu.name: cpu.queues, every.name: every.queues}
    for key, nodes in ran_on.items():
        assert queues[op_of(key)] in served[nodes[0]], f"{key} ({queues[op_of(key)]}) ran on {nodes[0]}"
    assert any(queues[op_of(k)] != "cpu_queue" for k in ran_on)  # the other queues were exercised too
    print(f"\ncelery render with 2 workers: {wall:.1f}s wall; {overhead(events)}; shots per worker: "
          f"{ {n: sum(v[0] == n for v in shots.values()) for n in served} }")


@pytest.mark.slow
def test_a_killed_worker_s_shot_step_runs_again_on_another(tmp_path, production, broker):
    """SIGKILL a worker (its whole process group) while it executes a shot step: RabbitMQ requeues the step's
    unacknowledged message (acks_late), another worker runs the step again, the run ends with the golden bytes.
    The victim blocks inside the step (tests/celery_workers.py), so the kill lands mid-step without a race; the
    survivor starts only then, so the victim ran every step before it."""
    env = {**production, "NAOS_CELERY_BROKER": broker}
    marker = tmp_path / "victim-in-shot"
    with Workers(broker, env, tmp_path / "logs") as workers:
        victim = workers.start("victim", RENDER_QUEUES, hang_marker=marker)
        render = subprocess.Popen([sys.executable, "-m", "naos_assets.cli", *render_args(tmp_path / "out")], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while not marker.exists():  # the victim is inside a shot step now
                assert render.poll() is None, f"the render ended before a shot step began: {render.communicate()}"
                time.sleep(0.5)
            shot = marker.read_text().split()[0]
            survivor = workers.start("survivor", RENDER_QUEUES)
            workers.kill(victim)
            stdout, stderr = render.communicate(timeout=900)
        finally:
            if render.poll() is None:
                render.kill()
    assert render.returncode == 0, stderr + survivor.text()[-3000:]
    assert digests(tmp_path / "out") == json.loads(GOLDEN.read_text())
    run_id = json.loads((tmp_path / "out" / "run_summary.json").read_text())["run_id"]
    ran_on, events = celery_events(env, run_id)
    assert ran_on[f"{SHOT_STEP}{shot}]"] == [victim.name, survivor.name]  # redelivered once, to the survivor
    for before in ("script", "voice_over", "shot_list", "render_plan", "shot_clips.plan_shot_steps"):
        assert ran_on[before] == [victim.name]  # the shots' ancestors, on every queue: all on the victim alone
    successes = [e.step_key for e in events if e.dagster_event and e.dagster_event.event_type_value == "STEP_SUCCESS"]
    assert successes.count(f"{SHOT_STEP}{shot}]") == 1
    print(f"\nkilled {victim.name} in {shot}; it ran again on {survivor.name}; {overhead(events)}")
