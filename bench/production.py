"""`make bench`, last: the production profile (PostgreSQL instance and records index, S3 registry, Celery workers)
against the embedded default on the same tiny season, side by side in this one run (§29.2).

Each configuration starts cold (its own NAOS_HOME, PostgreSQL database, S3 prefix and RabbitMQ vhost), backfills
the season with `naos backfill --concurrency N`, and reports what the backfill itself reports: wall time, episodes
per minute and the queue wait as a share of the steps' time (§29.2: at most 20 % under normal load). Throughput is
also given as a ratio to the embedded, one-by-one backfill of the same season in this run.

Needs what `make test` needs: PostgreSQL on 127.0.0.1:5432, RabbitMQ on 5672 with `rabbitmqctl`; moto's S3 server is
started here. Writes bench/output/production.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from naos_assets.executors import NEEDED_QUEUES  # noqa: E402
from tests.celery_workers import Workers, rabbitmq_vhost  # noqa: E402
from tests.postgres import fresh_database  # noqa: E402
from tests.s3_server import CREDS, CREDS_ENV, moto_server  # noqa: E402
from tests.season import write_season  # noqa: E402

BUCKET = "naos-bench"


def naos(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("NAOS_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", *args], cwd=ROOT, env=full, capture_output=True,
                          text=True)


def backfill(project: Path, out: Path, concurrency: int, env: dict[str, str]) -> dict:
    result = naos("backfill", "--project", str(project), "--season", "1", "--concurrency", str(concurrency),
                  "--out", str(out), env=env)
    if result.returncode != 0:
        raise SystemExit(f"bench: the backfill failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    report = json.loads((out / "backfill.json").read_text())
    return {k: report[k] for k in ("wall_s", "episodes_per_minute", "queue_wait_s", "queue_wait_fraction")}


def production(base: Path, project: Path, s3: str, concurrency: int, workers: int) -> dict:
    """One cold production backfill: a new database, prefix, vhost and NAOS_HOME; `workers` single-process workers."""
    name = f"c{concurrency}-w{workers}-{uuid.uuid4().hex[:6]}"
    with fresh_database("naos_bench") as pg, rabbitmq_vhost() as broker:
        env = {**pg, **CREDS_ENV, "NAOS_PROFILE": "production", "NAOS_REGISTRY": "s3", "NAOS_EXECUTOR": "celery",
               "NAOS_S3_BUCKET": BUCKET, "NAOS_S3_PREFIX": name, "NAOS_S3_ENDPOINT_URL": s3,
               "NAOS_CELERY_BROKER": broker, "NAOS_PROJECT": str(project), "NAOS_HOME": str(base / name)}
        inherited = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and not k.startswith("NAOS_")}
        with Workers(broker, {**inherited, **env}, base / name / "logs") as pool:
            for i in range(workers):
                pool.start(f"bench{i}", list(NEEDED_QUEUES))
            return backfill(project, base / name / "out", concurrency, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "bench" / "output"))
    args = parser.parse_args()
    import boto3

    out = Path(args.out)
    base = out / "production-work"
    project = write_season(base / "season", episodes=args.episodes)
    figures: dict[str, dict] = {}
    print(f"bench: embedded, in-process, one by one ({args.episodes} tiny episodes)", flush=True)
    figures["embedded_c1"] = backfill(project, base / "embedded" / "out", 1,
                                      {"NAOS_HOME": str(base / "embedded"), "NAOS_PROFILE": "embedded"})
    with contextlib.ExitStack() as stack:
        s3 = stack.enter_context(moto_server(base / "moto.log"))
        boto3.client("s3", endpoint_url=s3, **CREDS).create_bucket(Bucket=BUCKET)
        for concurrency in (1, 2, 4):
            print(f"bench: production, 2 Celery workers, {concurrency} run(s) at once", flush=True)
            figures[f"production_c{concurrency}"] = production(base, project, s3, concurrency, workers=2)
    floor = figures["embedded_c1"]["episodes_per_minute"]
    for row in figures.values():
        row["throughput_ratio"] = round(row["episodes_per_minute"] / floor, 2)
    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_1min": round(os.getloadavg()[0], 2)},
              "episodes": args.episodes, "date": time.strftime("%Y-%m-%d"), "figures": figures}
    (out / "production.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'configuration':<16} {'wall s':>7} {'ep/min':>7} {'ratio':>6} {'queue wait':>11}")
    for name, row in figures.items():
        print(f"{name:<16} {row['wall_s']:>7.1f} {row['episodes_per_minute']:>7.2f} {row['throughput_ratio']:>6.2f} "
              f"{100 * row['queue_wait_fraction']:>10.1f}%")


if __name__ == "__main__":
    main()
