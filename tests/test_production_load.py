"""The production profile under load (issue 7, seed 004 §29.2): a 20-episode season backfilled four runs at a time
on the whole production stack, a fresh PostgreSQL database (dagster-postgres instance and the registry's records
index), the S3 artifact registry (moto's server on loopback, bucket versioning on, so a rewritten object would show)
and two Celery workers on a private RabbitMQ vhost; then the registry's consistency walk, and one episode rendered
again on the embedded profile (SQLite, local files, in-process) to the same bytes.

Throughput (episodes per minute) and the queue wait as a share of the steps' time are printed and written to
tests/output/production_load.json; they are figures, not assertions (the machine is shared): docs/PERFORMANCE.md.
Every service is real; one that is missing skips here, and fails under CI=true.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import DRAFT_VOICES

from naos_assets.executors import NEEDED_QUEUES
from tests.celery_workers import Workers, rabbitmq_vhost
from tests.postgres import fresh_database, query
from tests.s3_server import CREDS, CREDS_ENV, moto_server
from tests.season import write_season
from tests.test_postgres_profile import naos

EPISODES = 20
CONCURRENCY = 4
BUCKET = "naos-load"
SAME_BYTES = "s01e07"  # the episode rendered again on the embedded profile
FILES = ["Script.json", "ShotList.json", "RenderPlan.json", "EpisodeAudio.json", "RenderOutput.json", "episode.mp4",
         "episode.srt", "episode.vtt", "episode.m4a", "credits.txt"]
OUTPUT = Path(__file__).resolve().parent / "output"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    import boto3

    base = tmp_path_factory.mktemp("load")
    project = write_season(base / "season", episodes=EPISODES)
    home = base / "home"
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(moto_server(base / "moto.log"))
        client = boto3.client("s3", endpoint_url=s3, **CREDS)
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        pg = stack.enter_context(fresh_database("naos_load"))
        broker = stack.enter_context(rabbitmq_vhost())
        env = {**pg, **CREDS_ENV, "NAOS_PROFILE": "production", "NAOS_REGISTRY": "s3", "NAOS_EXECUTOR": "celery",
               "NAOS_S3_BUCKET": BUCKET, "NAOS_S3_PREFIX": "site-a", "NAOS_S3_ENDPOINT_URL": s3,
               "NAOS_CELERY_BROKER": broker, "NAOS_PROJECT": str(project), "NAOS_SITE_ID": "site-a",
               "NAOS_HOME": str(home)}
        inherited = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("NAOS_")}
        inherited.update(DRAFT_VOICES)  # the suite's draft voices (tests/conftest.py), on the workers too
        workers = stack.enter_context(Workers(broker, {**inherited, **env}, base / "logs"))
        # two workers of two processes each: the tiny episodes' steps are short, so a step's hand-off (a second of
        # dagster-celery's polling) weighs more than its work, and four processes overlap those waits
        started = [workers.start(short, list(NEEDED_QUEUES), concurrency=2) for short in ("a", "b")]
        out = base / "out"
        result = naos("backfill", "--project", str(project), "--season", "1", "--concurrency", str(CONCURRENCY),
                      "--out", str(out), home=home, env=env, timeout=3600)
        yield SimpleNamespace(base=base, project=project, home=home, env=env, client=client, workers=started,
                              out=out, result=result)


def test_twenty_episodes_backfilled_concurrently_all_succeed(production):
    result, out = production.result, production.out
    assert result.returncode == 0, result.stderr[-6000:]
    report = json.loads((out / "backfill.json").read_text())
    assert report["concurrency"] == CONCURRENCY
    assert [(r["episode"], r["status"], r["exit_code"]) for r in report["episodes"]] == [
        (f"s01e{n:02d}", "success", 0) for n in range(1, EPISODES + 1)]
    for row in report["episodes"]:
        assert (out / row["episode"] / "episode.mp4").stat().st_size > 0
        assert row["queue_wait_s"] > 0, row  # every step went through a Celery queue (the executor's markers)
    # 20 render runs, all in PostgreSQL, all on the Celery executor, tagged with the site
    runs = query(production.env, "SELECT run_body FROM runs WHERE status = 'SUCCESS'")
    bodies = [json.loads(body) for (body,) in runs]
    renders = [b for b in bodies if b["pipeline_name"] == "render_episode"]
    assert len(renders) == EPISODES
    assert all("celery" in b["run_config"]["execution"]["config"] for b in renders)
    untagged = query(production.env, "SELECT count(*) FROM runs WHERE run_id NOT IN (SELECT run_id FROM run_tags "
                                     "WHERE key = 'naos/site_id' AND value = 'site-a')")
    assert untagged == [(0,)]  # §35.1: every run, the canon phase's included, carries the site
    # both workers ran steps of this backfill
    events = query(production.env, "SELECT event FROM event_logs WHERE dagster_event_type = 'ENGINE_EVENT' "
                                   "AND event LIKE %s", "%in celery worker%")
    ran_on = {m for (event,) in events for m in re.findall(r"naos-test-[ab]@[\w.-]+", event)}
    assert {w.name for w in production.workers} <= ran_on, ran_on

    figures = {"episodes": EPISODES, "concurrency": CONCURRENCY, "celery_workers": 2, "processes_per_worker": 2,
               **{k: report[k] for k in ("wall_s", "episodes_per_minute", "queue_wait_s", "queue_wait_fraction")},
               "step_s": round(sum(r["step_s"] for r in report["episodes"]), 1)}
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "production_load.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nproduction load: {EPISODES} episodes, {CONCURRENCY} runs at once, 2 Celery workers: "
          f"{figures['episodes_per_minute']:.2f} episodes/min over {figures['wall_s']:.0f} s; queue wait "
          f"{100 * figures['queue_wait_fraction']:.1f} % of the steps' time (§29.2 target <= 20 %)")


def test_the_registry_is_whole_after_the_load(production):
    """The consistency walk over the bucket and the PostgreSQL index: every ref resolves to an object whose bytes
    verify, no orphan refs, no temp keys, no write-once key rewritten with other bytes (bucket versions)."""
    check = naos("registry", "check", "--json", home=production.home, env=production.env, timeout=900)
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    report = json.loads(check.stdout)
    assert report["ok"] and report["problems"] == []
    counts = report["counts"]
    assert counts["versioned"] == 1
    assert counts["refs"] >= EPISODES * 14, counts  # each episode's artifacts, besides story_arc
    assert counts["records"] >= counts["refs"]
    # the index is the PostgreSQL table, and every record carries the site (§35.1)
    rows = query(production.env, "SELECT count(*), count(DISTINCT site_id), min(site_id) FROM naos_registry_records")
    assert rows[0][0] == counts["records"] and rows[0][1:] == (1, "site-a"), rows
    # objects live in the bucket under the prefix; NAOS_HOME holds no registry files but local scratch copies
    keys = [o["Key"] for page in production.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for o in page.get("Contents", [])]
    assert keys and all(k.startswith("site-a/") for k in keys)
    assert sum(k.startswith("site-a/objects/") for k in keys) >= EPISODES * 10
    local = [p for p in (production.home / "artifacts").rglob("*")
             if p.is_file() and "scratch" not in p.relative_to(production.home / "artifacts").parts]
    assert local == []


def test_embedded_profile_renders_the_same_bytes(production, tmp_path):
    """One of the season's episodes on the embedded default (SQLite instance, local registry, in-process): byte for
    byte what the production stack made."""
    import av

    env = {"NAOS_PROFILE": "embedded", "NAOS_REGISTRY": "local", "NAOS_EXECUTOR": "in_process"}
    out = tmp_path / "out"
    result = naos("render", "--project", str(production.project), "--episode", SAME_BYTES, "--out", str(out),
                  home=tmp_path / "home", env=env, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    produced = production.out / SAME_BYTES
    assert {f: _sha(out / f) for f in FILES} == {f: _sha(produced / f) for f in FILES}
    with av.open(str(out / "episode.mp4")) as video:  # the season's tiny profile, with its mix
        stream = video.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (320, 180, 12)
        assert video.streams.audio
