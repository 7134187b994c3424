"""The Dagster UI end to end, as a user meets it: `dagster dev` (webserver and daemon) on loopback, the episode
partition added and `render_episode` launched through the UI's own GraphQL API (the daemon dequeues the run), then
the asset pages in headless Chromium. The rendered DOM must show the asset graph and s01e01's materialization by
this run, and the screenshots must be real pictures (kept in tests/output/ui/, which git ignores)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PILOT = ROOT / "examples" / "pilot"
OUTPUT = ROOT / "tests" / "output" / "ui"  # git-ignored (tests/output/)
EPISODE = "s01e01"
LOCATION, REPOSITORY, JOB = "naos", "__repository__", "render_episode"
REPO_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
# what `naos render --profile preview_local --workers 1` passes (naos_assets/cli.py cmd_render)
RUN_CONFIG = {"ops": {"render_plan": {"config": {"profile": "preview_local"}}}, "loggers": {"naos_progress": {}},
              "execution": {"config": {"in_process": {}}}}
SERVER_TIMEOUT_S, RUN_TIMEOUT_S = 240, 480
BUDGETS_MS = (15_000, 30_000, 60_000)  # Chromium virtual time for the React app; a longer one only when needed

pytestmark = pytest.mark.slow


# ---- dagster dev ---------------------------------------------------------------------------------------------


class DagsterDev:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, home: Path, project: Path):
        self.proc, self.port, self.log, self.home, self.project = proc, port, log, home, project
        self.url = f"http://127.0.0.1:{port}"

    def log_tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def gql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
        assert not payload.get("errors"), f"GraphQL errors: {payload['errors']}"
        return payload["data"]

    def fail(self, message: str):
        pytest.fail(f"{message}\n--- dagster dev log (tail) ---\n{self.log_tail()}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (dagster dev, its webserver, daemon, code server, run workers), then
    SIGKILL for whatever is still there."""
    for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.monotonic() + grace  # the leader is gone: wait for the rest of its group
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def _wait_for_server(dev: DagsterDev) -> None:
    """/server_info answers, then the `naos` code location is loaded (or its load error is the failure)."""
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if dev.proc.poll() is not None:
            dev.fail(f"dagster dev exited with code {dev.proc.returncode} before serving")
        try:
            with urllib.request.urlopen(f"{dev.url}/server_info", timeout=5) as response:
                info = json.load(response)
            data = dev.gql("""query { workspaceOrError { __typename ... on Workspace { locationEntries {
                name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
            entries = {e["name"]: e for e in data["workspaceOrError"].get("locationEntries", [])}
            entry = entries.get(LOCATION)
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                if loaded["__typename"] == "PythonError":
                    dev.fail(f"code location {LOCATION!r} failed to load: {loaded['message']}")
                if loaded["__typename"] == "RepositoryLocation":
                    assert info["dagster_webserver_version"], info
                    return
            last = f"location entries: {entries}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError) as exc:
            last = repr(exc)
        time.sleep(1)
    dev.fail(f"dagster dev did not serve {dev.url} with location {LOCATION!r} loaded within {SERVER_TIMEOUT_S}s "
             f"(last: {last})")


@pytest.fixture
def browser() -> str:
    """Debian's `chromium`. CI (CI=true) must have it (.ci/run installs it); elsewhere the test may skip."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (apt-get install chromium); the UI end-to-end test needs it"
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def dagster_dev(tmp_path):
    """`dagster dev -w workspace.yaml` from the repo root on a free loopback port, with its own DAGSTER_HOME (the
    repo's dagster.yaml), NAOS_HOME and a copy of the pilot as NAOS_PROJECT; the process group dies at the end."""
    dagster_home, naos_home, pilot = tmp_path / "dagster_home", tmp_path / "naos_home", tmp_path / "pilot"
    dagster_home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    shutil.copytree(PILOT, pilot)
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "NAOS_HOME": str(naos_home),
           "NAOS_PROJECT": str(pilot / "project.yaml"), "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    log = tmp_path / "dagster-dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml",
                                 "-h", "127.0.0.1", "-p", str(port)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    dev = DagsterDev(proc, port, log, naos_home, pilot / "project.yaml")
    try:
        _wait_for_server(dev)
        yield dev
    finally:
        _stop(proc)


# ---- GraphQL: partition, launch, wait -------------------------------------------------------------------------

ADD_PARTITION = """
mutation($repo: RepositorySelector!, $name: String!, $key: String!) {
  addDynamicPartition(repositorySelector: $repo, partitionsDefName: $name, partitionKey: $key) {
    __typename
    ... on AddDynamicPartitionSuccess { partitionKey }
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}"""

LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status tags { key value } } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
    ... on Error { message }
  }
}"""

RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"

RUN_ERRORS = """
query($id: ID!) {
  logsForRun(runId: $id) {
    __typename
    ... on EventConnection { events { __typename
      ... on MessageEvent { message level stepKey }
      ... on ErrorEvent { error { message } } } }
  }
}"""

MATERIALIZATION = """
query($partition: String!) {
  assetOrError(assetKey: {path: ["render_output"]}) {
    ... on Asset { assetMaterializations(partitions: [$partition], limit: 1) {
      runId partition metadataEntries { label ... on TextMetadataEntry { text } } } }
  }
}"""

GROUP = """
query($group: AssetGroupSelector!) {
  assetNodes(group: $group) { assetKey { path } dependencyKeys { path } dependedByKeys { path } }
}"""


def add_partition(dev: DagsterDev, key: str) -> None:
    # the daemon's episode_partitions_sensor may have registered the project's episodes already: a duplicate is fine
    result = dev.gql(ADD_PARTITION, {"repo": REPO_SELECTOR, "name": "episodes", "key": key})["addDynamicPartition"]
    assert result["__typename"] in ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"), result


def launch(dev: DagsterDev, partition: str) -> str:
    params = {"selector": {**REPO_SELECTOR, "jobName": JOB}, "runConfigData": RUN_CONFIG,
              "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]}}
    result = dev.gql(LAUNCH_RUN, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        dev.fail(f"launchRun: {json.dumps(result, indent=2)}")
    assert {"key": "dagster/partition", "value": partition} in result["run"]["tags"]
    return result["run"]["runId"]


def run_errors(dev: DagsterDev, run_id: str) -> str:
    events = dev.gql(RUN_ERRORS, {"id": run_id})["logsForRun"].get("events", [])
    lines = [f"{e['__typename']} {e.get('stepKey') or ''}: {(e.get('error') or {}).get('message') or e['message']}"
             for e in events if e.get("level") == "ERROR" or e.get("error")]
    return "\n".join(lines) or "(no error events)"


def wait_for_run(dev: DagsterDev, run_id: str) -> None:
    deadline, status = time.monotonic() + RUN_TIMEOUT_S, None
    while time.monotonic() < deadline:
        status = dev.gql(RUN_STATUS, {"id": run_id})["runOrError"].get("status")
        if status == "SUCCESS":
            return
        if status in ("FAILURE", "CANCELED"):
            dev.fail(f"run {run_id} ended {status}:\n{run_errors(dev, run_id)}")
        time.sleep(2)
    dev.fail(f"run {run_id} still {status} after {RUN_TIMEOUT_S}s:\n{run_errors(dev, run_id)}")


# ---- Chromium ---------------------------------------------------------------------------------------------------


def chromium(browser: str, profile: Path, url: str, budget_ms: int, *action: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           f"--user-data-dir={profile}", "--window-size=1600,1000", "--hide-scrollbars",
           f"--virtual-time-budget={budget_ms}", *action, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=budget_ms / 1000 + 120)


def visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style|noscript)\b[^>]*>.*?</\1>", " ", dom, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", dom))).strip()


def page_text(browser: str, profile: Path, url: str, expected: list[str | re.Pattern]) -> tuple[str, int]:
    """The page's text once it shows everything expected: the Dagster UI is a React app that fetches its data over
    GraphQL, so the DOM is dumped after a virtual-time budget, a longer one when the first did not show it all."""
    text, missing = "", expected
    for budget in BUDGETS_MS:
        result = chromium(browser, profile, url, budget, "--dump-dom")
        assert result.returncode == 0, f"chromium --dump-dom {url}: {result.stderr[-2000:]}"
        text = visible_text(result.stdout)
        missing = [e for e in expected if not (e.search(text) if isinstance(e, re.Pattern) else e in text)]
        if not missing:
            return text, budget
    pytest.fail(f"{url} does not show {missing} (virtual time up to {BUDGETS_MS[-1]} ms); its text:\n{text[:3000]}")


def screenshot(browser: str, profile: Path, url: str, budget: int, png: Path) -> None:
    result = chromium(browser, profile, url, budget, f"--screenshot={png}")
    assert result.returncode == 0 and png.exists(), f"chromium --screenshot {url}: {result.stderr[-2000:]}"
    assert png.stat().st_size > 20_000, f"{png} is only {png.stat().st_size} bytes"
    with Image.open(png) as image:
        image.load()
        assert image.size == (1600, 1000), image.size
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 16)  # None: more colours than that, a busy page
        assert colours is None or len(colours) > 50, f"{png}: only {len(colours)} colours, an empty page"
        assert all(lo < hi for lo, hi in rgb.getextrema()), f"{png}: a single colour"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, OUTPUT / png.name)


# ---- the test ---------------------------------------------------------------------------------------------------


def test_render_an_episode_from_the_ui_and_see_it_in_the_asset_pages(browser, dagster_dev, tmp_path):
    dev = dagster_dev
    started = time.monotonic()
    add_partition(dev, EPISODE)
    run_id = launch(dev, EPISODE)
    wait_for_run(dev, run_id)
    print(f"\nrun {run_id} of {JOB} for {EPISODE}: SUCCESS in {time.monotonic() - started:.0f}s")

    # what the run materialized, by the API: the UI must show the same
    mats = dev.gql(MATERIALIZATION, {"partition": EPISODE})["assetOrError"]["assetMaterializations"]
    assert [(m["runId"], m["partition"]) for m in mats] == [(run_id, EPISODE)]
    sha = next(e["text"] for e in mats[0]["metadataEntries"] if e["label"] == "naos/sha256")
    # ... into this test's NAOS_HOME, the registry the code location was given
    assert (dev.home / "artifacts" / "records" / "render_output" / EPISODE / f"{sha}.json").is_file()

    # a user who dismissed the "Join the Dagster community" dialog once (it covers the page on a loopback origin)
    assert dev.gql("mutation { setNuxSeen }")["setNuxSeen"] is True
    profile = tmp_path / "chromium-profile"
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # the asset page, Partitions tab, s01e01 selected: materialized once, by this run, with its artifact hash
    url = f"{dev.url}/assets/render_output?view=partitions&partition={EPISODE}"
    text, budget = page_text(browser, profile, url, [
        "render_output", "Materialized (1)", re.compile(rf"\b{EPISODE}\s+Materialized\b"), "Latest materialization",
        run_id[:8], JOB, sha])
    screenshot(browser, profile, url, budget, shots / "render_output_s01e01.png")

    # the asset graph of the `render` group: every asset of the group and its neighbours, partition fill above 0
    nodes = dev.gql(GROUP, {"group": {**REPO_SELECTOR, "groupName": "render"}})["assetNodes"]
    names = {"/".join(n["assetKey"]["path"]) for n in nodes}
    neighbours = {"/".join(k["path"]) for n in nodes for k in n["dependencyKeys"] + n["dependedByKeys"]}
    assert {"render_output", "shot_clips"} <= names
    url = f"{dev.url}/locations/{LOCATION}/asset-groups/render"
    text, budget = page_text(browser, profile, url, [*sorted(names | neighbours), "Latest event",
                                                     re.compile(r"\b[1-9]\d*% filled")])
    filled = [int(p) for p in re.findall(r"\b(\d+)% filled", text)]
    assert len(filled) == len(names) and all(p > 0 for p in filled), (filled, text[:2000])
    screenshot(browser, profile, url, budget, shots / "asset_group_render.png")

    # the voice-over's listening test is an asset check a user finds on the asset's Checks tab
    url = f"{dev.url}/assets/voice_over?view=checks"
    text, budget = page_text(browser, profile, url, ["voice_over", "listening_test", "Listening test"])
    screenshot(browser, profile, url, budget, shots / "voice_over_checks.png")
    print(f"UI checked in {time.monotonic() - started:.0f}s; screenshots in {OUTPUT}")
