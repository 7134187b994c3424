"""Celery workers for tests: a private RabbitMQ vhost per test session, `naos worker` subprocesses in their own
process groups (so a test can SIGKILL one whole worker, pool children included), readiness by `celery inspect ping`.

    with rabbitmq_vhost() as broker:                       # naos_<random>, deleted afterwards
        with Workers(broker, env) as workers:
            a = workers.start("a", ["cpu_queue"])           # returns once the worker answers a ping
            workers.kill(a)                                 # SIGKILL its process group
RabbitMQ unreachable: skipped, but under CI=true it fails.

`python -m tests.celery_workers --hang-in-render-shot <marker> <naos worker args>` is a worker whose shot
steps, when they reach ffmpeg, write `marker` and block: a test kills it there, mid-step, with no race.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AMQP_HOST = os.environ.get("NAOS_TEST_RABBITMQ_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("NAOS_TEST_RABBITMQ_PORT", "5672"))


def _unavailable(reason: str):
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


def _rabbitmqctl(*args: str) -> None:
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")


@contextlib.contextmanager
def rabbitmq_vhost():
    """A fresh vhost naos_<random> that guest may use; yields its broker URL; deleted afterwards (with every queue
    and message in it), so nothing leaks between test runs or sessions sharing the server."""
    import kombu

    try:
        with kombu.Connection(f"pyamqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}//", connect_timeout=5) as conn:
            conn.connect()
    except Exception as exc:
        _unavailable(f"RabbitMQ unreachable at {AMQP_HOST}:{AMQP_PORT}: {exc}")
    vhost = f"naos_{uuid.uuid4().hex[:12]}"
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except (OSError, RuntimeError) as exc:
        _unavailable(f"cannot make a RabbitMQ vhost (rabbitmqctl): {exc}")
    try:
        yield f"pyamqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@dataclass
class Worker:
    name: str  # Celery node name, name@host: what the run's engine events name
    queues: list[str]
    proc: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Workers:
    """`naos worker` subprocesses on one broker, stopped (SIGTERM, then SIGKILL) on exit."""
    broker: str
    env: dict[str, str]
    logs: Path
    started: list[Worker] = field(default_factory=list)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        for worker in self.started:
            self.stop(worker)

    def start(self, short: str, queues: list[str], *, hang_marker: Path | None = None, ready_timeout: float = 300,
              concurrency: int = 1) -> Worker:
        import socket

        name = f"naos-test-{short}@{socket.gethostname()}"
        log = self.logs / f"worker-{short}.log"
        self.logs.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "tests.celery_workers"]
        cmd += ["--hang-in-render-shot", str(hang_marker)] if hang_marker else []
        cmd += ["worker", "--queues", ",".join(queues), "--name", name, "--concurrency", str(concurrency)]
        env = {**self.env, "NAOS_CELERY_BROKER": self.broker}
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)  # its own process group: kill() takes the pool too
        worker = Worker(name, queues, proc, log)
        self.started.append(worker)
        self.wait_ready(worker, ready_timeout)
        return worker

    def wait_ready(self, worker: Worker, timeout: float) -> None:
        """Until the worker answers a ping (its consumers are up by then); its log is in the error otherwise."""
        from naos_assets.executors import celery_app

        app = celery_app({"NAOS_CELERY_BROKER": self.broker})
        deadline = time.monotonic() + timeout  # a bound on a hang, not an assertion on speed
        try:
            while time.monotonic() < deadline:
                if worker.proc.poll() is not None:
                    raise RuntimeError(f"worker {worker.name} exited {worker.proc.returncode}:\n{worker.text()}")
                if app.control.ping(destination=[worker.name], timeout=1.0):
                    return
            raise RuntimeError(f"worker {worker.name} did not answer a ping in {timeout:.0f}s:\n{worker.text()}")
        finally:
            app.close()

    def kill(self, worker: Worker) -> None:
        """SIGKILL the worker's whole process group: main process and pool children die at once, no warm shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.proc.pid, signal.SIGKILL)
        worker.proc.wait()

    def stop(self, worker: Worker) -> None:
        if worker.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.proc.pid, signal.SIGTERM)  # warm shutdown: finish the current step, then exit
        try:
            worker.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill(worker)


def _hang_in_render_shot(marker: Path) -> None:
    """Fault injection for this test worker only: a shot step about to call ffmpeg says so, then blocks."""
    import naos_assets.render.assets as render_assets

    def hang(shot, *args, **kwargs):
        marker.write_text(f"{shot.id} {os.getpid()}\n")
        while True:
            time.sleep(3600)

    render_assets.render_shot = hang


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--hang-in-render-shot"]:
        _hang_in_render_shot(Path(args[1]))
        args = args[2:]
    from naos_assets.cli import main

    sys.exit(main(args))
