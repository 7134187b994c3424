"""`make dev` stops on Ctrl-C within a few seconds: scripts/dev.py started as the Makefile starts it, Ctrl-C once the
webserver answers and the code location is loaded, and every process it started is gone within STOP_LIMIT_S."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PILOT = ROOT / "examples" / "pilot"
SERVER_TIMEOUT_S = 240
STOP_LIMIT_S = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session_members(sid: int) -> list[str]:
    """'pid command' of the live processes of session sid (the terminal's session, here the test's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # state, ppid, pgrp, session, ...
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
        except (OSError, ValueError, IndexError):
            continue
        found.append(f"{entry.name} {cmd}")
    return found


def _loaded(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
        json.load(response)
    query = "query { workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    return any(e["name"] == "naos" and e["loadStatus"] == "LOADED" for e in entries)


def _gql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query, "variables": variables or {}})
                                     .encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.load(response)
    assert not payload.get("errors"), payload["errors"]
    return payload["data"]


REPO = {"repositoryLocationName": "naos", "repositoryName": "__repository__"}
ADD_PARTITION = """mutation($repo: RepositorySelector!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: "episodes", partitionKey: $key) { __typename } }"""
LAUNCH = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
STATUS = 'query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }'


def start_a_run(url: str) -> None:
    """render_episode for s01e01 (as the UI's Materialize launches it), until its worker is running a step."""
    _gql(url, ADD_PARTITION, {"repo": REPO, "key": "s01e01"})
    params = {"selector": {**REPO, "jobName": "render_episode"},
              "runConfigData": {"ops": {"render_plan": {"config": {"profile": "preview_local"}}},
                                "execution": {"config": {"in_process": {}}}},
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "s01e01"}]}}
    launched = _gql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id, deadline = launched["run"]["runId"], time.monotonic() + 120
    while _gql(url, STATUS, {"id": run_id})["runOrError"]["status"] in ("QUEUED", "NOT_STARTED", "STARTING"):
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.5)
    time.sleep(5)  # into its steps


def test_ctrl_c_stops_every_process_within_seconds(tmp_path):
    """With a run in progress: on its own `dagster dev` took 14 s here to stop then (idle: 4-7 s), and up to a minute
    when a daemon thread or the webserver hangs on its way out."""
    dagster_home, naos_home, pilot = tmp_path / "dagster_home", tmp_path / "naos_home", tmp_path / "pilot"
    dagster_home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    shutil.copytree(PILOT, pilot)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "NAOS_HOME": str(naos_home),
           "NAOS_PROJECT": str(pilot / "project.yaml"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "make-dev.log"
    with open(log, "wb") as out:  # the Makefile's dev recipe; its own session stands for the terminal's
        proc = subprocess.Popen([sys.executable, "scripts/dev.py", "-w", "workspace.yaml", "-h", "127.0.0.1",
                                 "-p", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    sid = proc.pid
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"make dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                if _loaded(url):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError, KeyError):
                pass
            assert time.monotonic() < deadline, f"not serving {url} after {SERVER_TIMEOUT_S}s:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        start_a_run(url)
        running = session_members(sid)
        assert any("dagster_webserver" in p for p in running) and any("dagster._daemon" in p for p in running), running

        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals its foreground process group
        left = session_members(sid)
        while left and time.monotonic() - started < STOP_LIMIT_S + 5:
            time.sleep(0.1)
            proc.poll()
            left = session_members(sid)
        seconds = time.monotonic() - started
        print(f"\nmake dev stopped in {seconds:.1f}s ({len(running)} processes)")
        assert not left, f"still running {seconds:.0f}s after Ctrl-C: {left}"
        assert seconds <= STOP_LIMIT_S, f"make dev took {seconds:.1f}s to stop:\n{log.read_text()[-3000:]}"
        assert proc.wait(timeout=5) == 0
        assert "naos dev: stopped in" in log.read_text()
    finally:
        for pid in (int(p.split()[0]) for p in session_members(sid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.poll()
