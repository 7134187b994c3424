"""The Dagster UI as an operator uses it, in a real Chromium driven by Playwright, clicking as a person would.

A tiny four-episode season with the timing-lock checkpoint on is rendered and approved with the CLI first (the
operator's yesterday), then `dagster dev` serves it and the browser:
1. materializes one episode from the asset graph ("Materialize all" → a partition → "Launch 1 run"): one run, every
   step in one process, every stage a cache hit;
2. sees an outline edit in episode 3 as "Unsynced" on that episode only, before anything re-runs;
3. backfills every episode from the asset graph: episode 3 re-runs the stages the edit reached and pauses at its
   timing lock (the lock changed); episodes 1 and 2 are all cache hits; episode 4 recalls episode 3's scene in its
   context pack (new bytes for a real reason), its script comes out byte-identical, so everything after it is a
   cache hit; every other episode keeps its approval;
4. sees the paused run at a glance (its tags, the failing `approved` check of that episode) and approves it from
   the review_checkpoint job's launchpad; the approvals sensor then finishes the episode;
5. reads each episode's own quality-check results on render_output's Checks tab.
Screenshots land in tests/output/ui/ (git-ignored); docs/OPERATIONS.md shows copies of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from tests.season import write_season

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "output" / "ui"
EPISODES = ["s01e01", "s01e02", "s01e03", "s01e04"]
EDITED = "s01e03"
PIPELINE_GROUP = "episode"  # the asset group an operator materializes an episode from (docs/OPERATIONS.md)
SERVER_TIMEOUT_S, RUN_TIMEOUT_S = 240, 420
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.slow


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's chromium, driven by the Playwright library (never `playwright install`: nothing is downloaded)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    reason = "chromium is not installed (apt-get install chromium); the UI end-to-end test needs it"
    if not found:
        pytest.fail(f"CI: {reason}") if _ci() else pytest.skip(reason)
    return found


# ---- the operator's yesterday: a season rendered and approved with the CLI --------------------------------------


def naos(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def season(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("ui")
    project = write_season(tmp / "season", episodes=len(EPISODES))
    data = yaml.safe_load(project.read_text())
    data["human_checkpoints"]["approve_shotlist_timing_lock"] = True
    project.write_text(yaml.safe_dump(data, sort_keys=False))
    home = tmp / "home"
    env = {**os.environ, "NAOS_HOME": str(home), "NAOS_PROJECT": str(project), "PYTHONUNBUFFERED": "1"}
    env.pop("NAOS_EXECUTOR", None)
    episodes = ",".join(EPISODES)
    first = naos("backfill", "--episodes", episodes, "--out", str(tmp / "out"), env=env)
    assert first.returncode == 5, first.stderr[-3000:]  # every episode waits at its timing lock
    for episode in EPISODES:
        approved = naos("approve", "--episode", episode, "--by", "Ana Reviewer", env=env)
        assert approved.returncode == 0, approved.stderr[-2000:]
    second = naos("backfill", "--episodes", episodes, "--out", str(tmp / "out"), env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    return {"tmp": tmp, "project": project, "home": home, "env": env}


# ---- dagster dev ------------------------------------------------------------------------------------------------


class Dev:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path, home: Path):
        self.proc, self.log, self.home = proc, log, home
        self.url = f"http://127.0.0.1:{port}"

    def gql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
        assert not payload.get("errors"), payload["errors"]
        return payload["data"]

    def fail(self, message: str):
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-60:]) if self.log.exists() else ""
        pytest.fail(f"{message}\n--- dagster dev log (tail) ---\n{tail}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGINT, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=grace)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def dev(season) -> Dev:
    """`dagster dev` as `make dev` starts it, on the CLI's own instance ($NAOS_HOME/dagster), so the UI shows what the
    CLI did; stopped with Ctrl-C (SIGINT) at the end."""
    env = {**season["env"], "DAGSTER_HOME": str(season["home"] / "dagster")}
    log = season["tmp"] / "dagster-dev.log"
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                                 "-p", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Dev(proc, port, log, season["home"])
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            server.fail(f"dagster dev exited with {proc.returncode}")
        try:
            entries = server.gql("""{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
                locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
            (entry,) = entries["workspaceOrError"]["locationEntries"]
            if entry["loadStatus"] == "LOADED":
                assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
                break
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            server.fail("dagster dev did not load the naos code location")
        time.sleep(1)
    server.gql("mutation { setNuxSeen }")  # an operator who dismissed the welcome dialog once
    try:
        yield server
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def page(chromium_path, dev):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1600, "height": 1000})
        tab.set_default_timeout(30_000)
        yield tab
        browser.close()


# ---- what happened, read from the instance the UI serves ----------------------------------------------------------


def instance_of(dev: Dev):
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    return DagsterInstance.from_ref(InstanceRef.from_dir(str(dev.home / "dagster")))


def runs_since(instance, since: float, **tags) -> list:
    """Runs created since `since` that a click in the UI launched (tags filter further)."""
    from dagster import RunsFilter

    return list(instance.get_runs(RunsFilter(tags={"dagster/from_ui": "true", **tags}, created_after=_utc(since))))


def _utc(epoch: float):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def wait_for(what: str, check, dev: Dev, timeout: float = RUN_TIMEOUT_S, every: float = 2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    dev.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def finished(instance, run_ids: list[str]) -> list:
    runs = [instance.get_run_by_id(r) for r in run_ids]
    return runs if all(r.is_finished for r in runs) else []


def materializations(instance, run_id: str) -> dict[str, dict]:
    """{asset: metadata} of what a run materialized."""
    from dagster import DagsterEventType

    out = {}
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        mat = record.dagster_event.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def partition_of(run) -> str | None:
    return run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start")


def shoot(page, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path))
    return path


# ---- clicks ------------------------------------------------------------------------------------------------------


def open_materialize_dialog(page, dev: Dev, group: str):
    page.goto(f"{dev.url}/locations/naos/asset-groups/{group}")
    page.get_by_role("button", name="Materialize all").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    dialog.get_by_text("Partition selection").wait_for()
    return dialog


def pick_partition(page, dialog, key: str) -> None:
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("dialog").last.get_by_text(key, exact=True).first.click()
    page.keyboard.press("Escape")  # closes the partition list, not the dialog
    dialog.get_by_text("1 partition", exact=True).wait_for()


def reload_until(page, url: str, pattern: re.Pattern, dev: Dev, timeout: float = 90) -> str:
    """The page's text once it matches: the UI polls, but a reload is what a person does while waiting."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        page.goto(url)
        page.wait_for_timeout(2500)
        text = page.inner_text("body")
        if pattern.search(text):
            return text
    dev.fail(f"{url} never showed {pattern.pattern!r}; it shows:\n{text[:3000]}")


# ---- the test ----------------------------------------------------------------------------------------------------


def test_an_operator_runs_a_season_from_the_dagster_ui(season, dev, page):
    try:
        operate(season, dev, page)
    except BaseException:
        shoot(page, "failure")  # what the browser showed when it went wrong
        (OUTPUT / "failure.txt").write_text(page.url + "\n" + page.inner_text("body"))
        raise


def operate(season, dev, page):
    from dagster import RunsFilter

    instance = instance_of(dev)
    approvals_before = _approvals(season)
    timings = {}

    # 1. one episode from the asset graph: one run, one process, nothing recomputed
    started = time.time()
    dialog = open_materialize_dialog(page, dev, PIPELINE_GROUP)
    pick_partition(page, dialog, "s01e01")
    shoot(page, "materialize_one_episode")
    dialog.get_by_role("button", name="Launch 1 run").click()
    (run,) = wait_for("the run the click launched", lambda: runs_since(instance, started), dev, timeout=60)
    (run,) = wait_for("that run to finish", lambda: finished(instance, [run.run_id]), dev)
    timings["materialize s01e01 from the asset graph"] = run_seconds(instance, run)
    assert run.status.value == "SUCCESS" and partition_of(run) == "s01e01", run.status
    assert run.job_name == "__ASSET_JOB"
    engine = " ".join(r.message for r in instance.all_logs(run.run_id) if r.message)
    assert "Executing steps in process" in engine and "Launching subprocess" not in engine
    mats = materializations(instance, run.run_id)
    assert {"episode_plan", "script", "voice_over", "shot_list", "render_output"} <= set(mats), sorted(mats)
    assert all(m.get("naos/cache_hit") is True for a, m in mats.items() if "naos/cache_hit" in m), mats
    assert "publish" not in mats and "season_audiobook" not in mats

    # 2. a one-line dialogue edit in episode 3: stale at once, on that episode only
    outline = season["project"].parent / "episodes" / f"{EDITED}.yaml"
    data = yaml.safe_load(outline.read_text())
    beat = next(b for b in data["scenes"][0]["beats"] if "line" in b)
    beat["line"] = beat["line"].rstrip(".") + ", out at sea."
    outline.write_text(yaml.safe_dump(data, sort_keys=False))
    text = reload_until(page, f"{dev.url}/assets/episode_plan?view=partitions&partition={EDITED}",
                        re.compile(r"Unsynced"), dev)
    assert f"{EDITED}" in text
    shoot(page, "unsynced_after_outline_edit")
    page.goto(f"{dev.url}/assets/episode_plan?view=partitions&partition=s01e04")
    page.get_by_text("Latest materialization").wait_for()
    assert "Unsynced" not in page.inner_text("body")

    # 3. backfill every episode from the asset graph
    scripts_before = {e: latest_sha(instance, "script", e) for e in EPISODES}
    started = time.time()
    dialog = open_materialize_dialog(page, dev, PIPELINE_GROUP)
    dialog.get_by_role("button", name="All", exact=True).click()
    dialog.get_by_text(f"{len(EPISODES)} partitions", exact=True).wait_for()
    dialog.get_by_role("button", name="Launch backfill").click()
    page.get_by_text(re.compile(r"Created backfill")).wait_for()
    backfill = wait_for("the backfill to finish", lambda: [b for b in instance.get_backfills(limit=5)
                                                           if b.backfill_timestamp >= started - 1
                                                           and b.status.value != "REQUESTED"], dev)[0]
    runs = {partition_of(r): r for r in runs_since(instance, started, **{"dagster/backfill": backfill.backfill_id})}
    assert set(runs) == set(EPISODES), {k: v.status for k, v in runs.items()}
    timings["backfill of 4 episodes after the edit"] = round(time.time() - started, 1)
    # one at a time in season order (dagster.yaml), which the canon needs: each starts after the one before ended
    stats = [instance.get_run_stats(runs[e].run_id) for e in EPISODES]
    assert all(a.end_time <= b.start_time for a, b in pairwise(stats)), \
        [(s.start_time, s.end_time) for s in stats]
    by_episode = {e: materializations(instance, r.run_id) for e, r in runs.items()}
    for episode in ("s01e01", "s01e02"):  # before the edit: nothing to redo
        hits = {a: m.get("naos/cache_hit") for a, m in by_episode[episode].items() if "naos/cache_hit" in m}
        assert hits and all(hits.values()), (episode, hits)
        assert "render_output" in by_episode[episode], episode
    # after it: s01e04's context pack recalls the scenes of the episodes before it, episode 3's edited line among
    # them, so it is new bytes for a real reason; the script made from it is byte-identical, and so everything after
    # the script is a cache hit (no lineage hash carries the change further)
    later = by_episode["s01e04"]
    missed = {a for a, m in later.items() if m.get("naos/cache_hit") is False}
    assert missed <= {"context_pack", "script"} and "render_output" in later, missed
    if "context_pack" in missed:
        pack = artifact(season, later["context_pack"]["naos/sha256"])
        assert ", out at sea." in json.dumps(pack["recalled"]), pack["recalled"]
    assert later["script"]["naos/sha256"] == scripts_before["s01e04"]
    edited = {a: m.get("naos/cache_hit") for a, m in by_episode[EDITED].items() if "naos/cache_hit" in m}
    assert edited["episode_plan"] is False and edited["script"] is False, edited
    assert edited.get("story_arc", True) is True  # the season's arc did not change
    # the edited episode's lock changed and asks again; every other episode kept its approval
    assert _approvals(season)[len(approvals_before):] == [(EDITED, "requested")], _approvals(season)

    # 4. the paused run, visibly paused; approved from the UI
    paused = runs[EDITED]
    assert paused.tags.get("naos/awaiting_approval") and paused.tags.get("naos/episode") == EDITED, paused.tags
    page.goto(f"{dev.url}/runs?q%5B0%5D=tag%3Anaos%2Fawaiting_approval%3D{paused.tags['naos/awaiting_approval']}")
    page.get_by_text("Show runs within backfills").click()  # the backfill's runs are folded away by default
    page.get_by_text(paused.run_id[:8]).first.wait_for()
    shoot(page, "paused_run_in_the_runs_list")
    failing = [e.dagster_event.event_specific_data for e in instance.all_logs(paused.run_id)
               if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
               and e.dagster_event.event_specific_data.check_name == "approved"]
    assert ("shotlist_timing_lock", False) in {(c.asset_key.to_user_string(), c.passed) for c in failing}, failing
    assert partition_of(paused) == EDITED
    page.goto(f"{dev.url}/assets/shotlist_timing_lock?view=checks")
    page.get_by_text("Latest execution").wait_for()
    page.locator("button[role=tab]", has_text="Partitions").click()  # the check's own tab, not the asset's
    page.get_by_text(EDITED, exact=True).first.wait_for()
    page.wait_for_timeout(1500)
    shoot(page, "approved_check_failing")
    started = time.time()
    page.goto(f"{dev.url}/locations/naos/jobs/review_checkpoint/playground")
    page.get_by_placeholder("Partition").click()
    page.get_by_placeholder("Partition").fill(EDITED)
    page.keyboard.press("Enter")
    page.get_by_text(f"partition: {EDITED}").wait_for()  # the launchpad has rebuilt the config for the partition
    page.wait_for_timeout(1000)
    page.locator(".CodeMirror-line", has_text=re.compile(r"^\s*decision:")).first.click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.keyboard.type("by: Ana Reviewer")
    shoot(page, "approve_from_the_launchpad")
    page.get_by_role("button", name="Launch Run").click()
    (review,) = wait_for("the review run", lambda: runs_since(instance, started, **{"dagster/partition": EDITED}),
                         dev, timeout=60)
    (review,) = wait_for("the review run to finish", lambda: finished(instance, [review.run_id]), dev)
    assert review.job_name == "review_checkpoint" and review.status.value == "SUCCESS", review.status
    assert review.tags["naos/decision"] == "approved" and review.tags["naos/decided_by"] == "Ana Reviewer"
    resumed = wait_for("the approvals sensor to finish the episode", lambda: [
        r for r in instance.get_runs(RunsFilter(tags={"dagster/partition": EDITED}, created_after=_utc(started)))
        if r.job_name == "render_episode" and r.is_finished], dev)
    assert resumed[0].status.value == "SUCCESS", resumed[0].status
    assert "render_output" in materializations(instance, resumed[0].run_id)

    # 5. each episode's own check results: the backfill's runs filed theirs under their episodes, and the episode
    # the approvals sensor finished has its own
    page.goto(f"{dev.url}/assets/render_output?view=checks")
    page.get_by_text("loudness", exact=True).first.click()
    page.locator("button[role=tab]", has_text="Partitions").click()  # the check's own tab, not the asset's
    page.get_by_text("s01e04", exact=True).first.wait_for()
    page.get_by_text(f"Passed ({len(EPISODES)})").wait_for()
    checks = page.inner_text("body")
    assert "Missing (0)" in checks and "Failed (0)" in checks, checks[:3000]
    for episode in EPISODES:
        assert episode in checks, checks[:3000]
    for run in [*runs.values(), resumed[0]]:
        evaluated = {(e.dagster_event.event_specific_data.check_name, e.dagster_event.event_specific_data.partition)
                     for e in instance.all_logs(run.run_id)
                     if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"}
        if run is not paused:  # the paused run stopped before render_output
            assert ("loudness", partition_of(run)) in evaluated, (partition_of(run), evaluated)
    page.get_by_text("s01e02", exact=True).filter(visible=True).last.click()  # one episode's result, in detail
    page.wait_for_timeout(1500)
    assert "LUFS" in page.inner_text("body") or "lufs" in page.inner_text("body").lower(), page.inner_text("body")[:3000]
    shoot(page, "render_output_checks_per_episode")
    print("\n" + "\n".join(f"{k}: {v} s" for k, v in timings.items()))


def latest_sha(instance, asset: str, episode: str) -> str:
    from dagster import AssetKey, AssetRecordsFilter

    (record,) = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[episode]), limit=1).records
    return record.asset_materialization.metadata["naos/sha256"].value


def artifact(season, sha: str) -> dict:
    from io_managers import Registry

    return json.loads(Registry.local(season["home"] / "artifacts").get_bytes(sha))


def run_seconds(instance, run) -> float:
    stats = instance.get_run_stats(run.run_id)
    return round(stats.end_time - stats.launch_time, 1)


def _approvals(season) -> list[tuple[str, str]]:
    """(episode, decision) of every audit-trail record, oldest first (decision: requested, approved, rejected)."""
    from io_managers import AuditTrail, Registry

    return [(r["episode_id"], r["decision"]) for r in AuditTrail(Registry.local(season["home"] / "artifacts")).records()]
