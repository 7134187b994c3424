"""A cached episode launched as the Dagster UI launches it, three ways, side by side in one run on this machine:

- the asset graph's "Materialize" (the implicit asset job `__ASSET_JOB`, the episode's assets, no run config: what a
  click sends), on the project's executor (in-process on the embedded default);
- the job page's `render_episode` (its default run config, as the Launchpad fills it);
- the implicit asset job on Dagster's multiprocess executor, a process per step: what the asset graph ran before
  NAOS set `Definitions(executor=...)` (issue 15: 77-105 s an episode against 4-8 s).

Every stage is a cache hit in all three (the season is rendered first), so the figures are launch and step overhead.
Prints JSON; docs/PERFORMANCE.md records the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EPISODE = "s01e01"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each in-process variant (default 3)")
    args = parser.parse_args()
    from tests.season import write_season

    tmp = Path(tempfile.mkdtemp(prefix="naos-bench-ui-"))
    project = write_season(tmp / "season", episodes=1)
    home = tmp / "home"
    os.environ.update(NAOS_HOME=str(home), NAOS_PROJECT=str(project))
    os.environ.pop("NAOS_EXECUTOR", None)
    print(f"bench: rendering {EPISODE} of a tiny season once (warm cache) in {tmp} ...", flush=True)
    subprocess.run([sys.executable, "-m", "naos_assets.cli", "render", "--episode", EPISODE, "--out",
                    str(tmp / "out")], check=True, cwd=ROOT, capture_output=True)

    from dagster import DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from naos_assets.definitions import build_definitions

    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    instance = DagsterInstance.get()
    repo = ReconstructableRepository.for_module("naos_assets.definitions", "defs", working_directory=str(ROOT))
    defs = build_definitions(str(project), str(home))
    implicit = defs.resolve_implicit_global_asset_job_def()
    graph = defs.resolve_asset_graph()
    episode_assets = [k for k in implicit.asset_layer.executable_asset_keys  # what group `episode` selects
                      if graph.get(k).is_materializable and graph.get(k).group_name == "episode"]

    def launch(job_name: str, run_config: dict | None = None, selection=None) -> float:
        started = time.perf_counter()
        result = execute_job(repo.get_reconstructable_job(job_name), instance=instance, run_config=run_config or {},
                             tags={"dagster/partition": EPISODE}, asset_selection=selection)
        assert result.success, f"{job_name} failed"
        return time.perf_counter() - started

    multiprocess = {"execution": {"config": {"multiprocess": {"max_concurrent": 2}}}}
    figures: dict[str, list[float]] = {"asset_graph": [], "job_page": [], "asset_graph_multiprocess": []}
    for i in range(args.repeat):  # interleaved, so drift on a shared machine hits both alike
        print(f"bench: round {i + 1}/{args.repeat}: asset graph, job page ...", flush=True)
        figures["asset_graph"].append(launch("__ASSET_JOB", selection=episode_assets))
        figures["job_page"].append(launch("render_episode"))
    print("bench: once on the multiprocess executor (a process per step) ...", flush=True)
    figures["asset_graph_multiprocess"].append(launch("__ASSET_JOB", multiprocess, episode_assets))
    median = {k: round(statistics.median(v), 2) for k, v in figures.items()}
    result = {"episode": EPISODE, "steps": len(episode_assets), "seconds": {k: [round(x, 2) for x in v]
                                                                             for k, v in figures.items()},
              "median_s": median,
              "asset_graph_over_job_page": round(median["asset_graph"] / median["job_page"], 2),
              "multiprocess_over_asset_graph": round(median["asset_graph_multiprocess"] / median["asset_graph"], 1)}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
