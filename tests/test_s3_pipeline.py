"""`naos render` of the pilot with the artifact registry on S3 (moto's server on loopback, tests/s3_server.py): real
Dagster runs on the embedded instance, real ffmpeg, the golden hashes; S3 errors for a window mid-run are retried by
botocore; a re-render is all cache hits; bad S3 settings are exit 2 before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest

from tests.s3_server import CREDS, CREDS_ENV, FlakyProxy, moto_server
from tests.test_cli import GOLDEN, PILOT, ROOT, digests

BUCKET = "naos-pipeline"
PROJECT = PILOT / "project.yaml"
SHOT_STEP = "▶ shot_clips.render_shot_clip["


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto") / "server.log") as url:
        boto3.client("s3", endpoint_url=url, **CREDS).create_bucket(Bucket=BUCKET)
        yield url


def s3_env(home: Path, endpoint: str, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DAGSTER_HOME", "NAOS_REGISTRY_INDEX"}}
    return {**env, **CREDS_ENV, "NAOS_HOME": str(home), "NAOS_PROFILE": "embedded", "NAOS_REGISTRY": "s3",
            "NAOS_S3_BUCKET": BUCKET, "NAOS_S3_PREFIX": prefix, "NAOS_S3_ENDPOINT_URL": endpoint, **extra}


def naos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


def render_args(out: Path) -> list[str]:
    return ["render", "--project", str(PROJECT), "--episode", "s01e01", "--out", str(out)]


def bucket_keys(moto: str, prefix: str) -> list[str]:
    pages = boto3.client("s3", endpoint_url=moto, **CREDS).get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=f"{prefix}/")
    return sorted(item["Key"][len(prefix) + 1:] for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="module")
def s3_render(moto_url, tmp_path_factory):
    base = tmp_path_factory.mktemp("s3render")
    env = s3_env(base / "home", moto_url, f"pilot-{uuid.uuid4().hex[:8]}")
    result = naos(*render_args(base / "out"), env=env)
    assert result.returncode == 0, result.stderr
    return base, env


def test_render_on_s3_matches_the_golden_hashes(s3_render, moto_url):
    base, env = s3_render
    assert digests(base / "out") == json.loads(GOLDEN.read_text())
    keys = bucket_keys(moto_url, env["NAOS_S3_PREFIX"])
    folders = {k.split("/")[0] for k in keys}
    assert {"objects", "refs", "records", "cache", "dagster-io"} <= folders
    assert "refs/render_output/s01e01.json" in keys
    # the per-shot fan-out (Dagster's io_manager) went to the bucket too, not to DAGSTER_HOME/storage
    assert any(k.startswith("dagster-io/storage/") and "render_shot_clip" in k for k in keys)
    home = base / "home"
    assert [p.name for p in (home / "artifacts").iterdir()] == ["scratch"]
    local_steps = [p for p in (home / "dagster" / "storage").glob("*/*") if p.name != "compute_logs"]
    assert local_steps == []

    from naos_assets.analytics import query  # the artifacts view reads the run's records from the bucket

    [row] = query(home, "SELECT count(*) AS n, count(DISTINCT run_id) AS runs FROM artifacts")
    assert row == {"n": sum(k.startswith("records/") for k in keys), "runs": 1}


def test_rerender_on_s3_is_all_cache_hits(s3_render, moto_url):
    base, env = s3_render
    result = naos(*render_args(base / "rerun"), env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads((base / "rerun" / "run_summary.json").read_text())
    assert summary["cache_misses"] <= 1  # render_plan re-reads the library every run (as on the local registry)
    assert summary["shot_cache"] and all(summary["shot_cache"].values())
    assert digests(base / "rerun") == json.loads(GOLDEN.read_text())


def test_s3_errors_for_a_window_mid_run_are_retried(moto_url, tmp_path):
    """503 SlowDown for every request during windows once the shot steps run: botocore backs off and retries (30
    attempts, far more than a 3 s window can use up), the run succeeds with the golden bytes."""
    with FlakyProxy(moto_url) as proxy:
        env = s3_env(tmp_path / "home", proxy.url, f"flaky-{uuid.uuid4().hex[:8]}", NAOS_S3_MAX_ATTEMPTS="30")
        proc = subprocess.Popen([sys.executable, "-m", "naos_assets.cli", *render_args(tmp_path / "out")], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        shots_running = threading.Event()

        def drain():
            for line in proc.stderr:
                lines.append(line)
                if SHOT_STEP in line:
                    shots_running.set()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        while not shots_running.wait(1) and proc.poll() is None:
            pass
        failed = 0
        while proc.poll() is None and failed == 0:  # a window may fall between requests (an ffmpeg pass): again
            proxy.fail_for(3, 503)
            time.sleep(3.5)
            failed = proxy.injected
        code = proc.wait(timeout=900)
        reader.join(timeout=60)
    stderr = "".join(lines)
    assert shots_running.is_set(), stderr
    assert failed > 0, "no request fell into an error window"
    assert code == 0, stderr
    assert digests(tmp_path / "out") == json.loads(GOLDEN.read_text())
    summary = json.loads((tmp_path / "out" / "run_summary.json").read_text())
    assert summary["errors"] == [] and step_retries(tmp_path / "home", summary["run_id"]) == 0  # botocore's, not Dagster's
    print(f"S3 errors injected in the last window: {failed}; requests forwarded: {proxy.forwarded}")


def step_retries(home: Path, run_id: str) -> int:
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home / "dagster")) as instance:
        return len(instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY))


def test_bad_s3_settings_are_exit_2_before_anything_is_written(moto_url, tmp_path):
    home = tmp_path / "home"
    env = s3_env(home, moto_url, "bad")
    cases = [({"NAOS_S3_BUCKET": ""}, "NAOS_S3_BUCKET: not set"),
             ({"NAOS_S3_BUCKET": "no-such-bucket"}, "NAOS_S3_BUCKET: bucket 'no-such-bucket' at"),
             ({"NAOS_S3_MAX_ATTEMPTS": "many"}, "NAOS_S3_MAX_ATTEMPTS: 'many' is not a whole number"),
             ({"NAOS_REGISTRY": "gcs"}, "NAOS_REGISTRY: must be local or s3")]
    for change, message in cases:
        result = naos(*render_args(tmp_path / "out"), env={**env, **change})
        assert result.returncode == 2 and message in result.stderr, (change, result.stderr)
    result = naos("cache", "stats", env={**env, "NAOS_PROFILE": "production", "NAOS_REGISTRY": "",
                                         "NAOS_S3_BUCKET": ""})
    assert result.returncode == 2 and "NAOS_S3_BUCKET: not set" in result.stderr, result.stderr
    assert not home.exists() and not (tmp_path / "out").exists()
    assert bucket_keys(moto_url, "bad") == []
