"""`make bench`: a 10-minute, 30-shot episode through the whole pipeline, against one ffmpeg pass (the floor).

Both are measured side by side in this one run, on this machine; the ratio is what docs/PERFORMANCE.md records.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PILOT = ROOT / "examples" / "pilot"
WORDS = ("the lamp keeper watched the black water roll against the stones while the gulls circled the harbor "
         "and the tide crept up the slipway one patient wave after another until the night came down").split()


def long_line(n: int, words: int = 49) -> str:
    return " ".join(WORDS[(n + i) % len(WORDS)] for i in range(words)).capitalize() + "."


def make_project(dest: Path, scenes: int = 10) -> Path:
    """10 scenes x (one 20 s establishing hold + two ~20 s lines) = 30 shots, about 10 minutes."""
    project = yaml.safe_load((PILOT / "project.yaml").read_text())
    locations = [loc["id"] for loc in project["locations"]]
    cast = [c["id"] for c in project["characters"]]
    outline = {"schema_version": "1.1.0", "episode_number": 1, "title": "Benchmark", "summary": "Ten long scenes.",
               "scenes": []}
    for i in range(scenes):
        a, b = cast[i % len(cast)], cast[(i + 1) % len(cast)]
        outline["scenes"].append({
            "id": f"sc{i + 1:02d}", "location": locations[i % len(locations)], "time": f"night {i + 1}",
            "characters": [a, b],
            "beats": [{"action": f"The camera holds on the scene, part {i + 1}.", "duration_s": 20},
                      {"speaker": a, "line": long_line(i), "emotion": "calm"},
                      {"speaker": b, "line": long_line(i + 7), "emotion": "curious"}],
        })
    (dest / "episodes").mkdir(parents=True, exist_ok=True)
    (dest / "episodes" / "s01e01.yaml").write_text(yaml.safe_dump(outline, sort_keys=False))
    project["episodes"] = [{"id": "s01e01", "outline": "episodes/s01e01.yaml"}]
    project.pop("story_arc", None)  # the pilot's arc names its six episodes
    project["asset_library"] = str(PILOT / "library")
    (dest / "project.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return dest / "project.yaml"


def run_pipeline(project: Path, home: Path, out: Path, workers: int = 1) -> float:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["NAOS_HOME"] = str(home)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "naos_assets.cli", "render", "--project", str(project), "--episode",
                    "s01e01", "--out", str(out), "--workers", str(workers)], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - started


def run_floor(pipeline_out: Path, project: Path, out: Path, home: Path) -> float:
    """One ffmpeg pass over the same timeline, muxing the pipeline's own mix (the audio engine's work is not in the
    floor: the ratio charges the pipeline for TTS and mixing too)."""
    from engines.video.floor import render_one_pass
    from engines.writing import library_root, load_project
    from io_managers.registry import registry_from_env
    from naos_assets.media.files import asset_path
    from schemas import RenderPlan, ShotList

    shot_list = ShotList.model_validate_json((pipeline_out / "ShotList.json").read_bytes())
    plan = RenderPlan.model_validate_json((pipeline_out / "RenderPlan.json").read_bytes())
    library = library_root(load_project(project), project)
    registry = registry_from_env(home)
    paths = {a.asset_id: asset_path(a, library, registry) for a in plan.assets if a.status == "resolved"}
    mix = json.loads((pipeline_out / "EpisodeAudio.json").read_text())["mix"]["sha256"]
    audio = registry.path(mix)  # a verified local copy, whichever the backend
    started = time.perf_counter()
    render_one_pass(shot_list, plan, paths, out / "floor.mp4", audio_path=audio)
    return time.perf_counter() - started


def edit_one_line(project: Path, scene: int = 5) -> str:
    """Change one word of one line of one scene in the outline (as an author's small fix would)."""
    outline = project.parent / "episodes" / "s01e01.yaml"
    data = yaml.safe_load(outline.read_text())
    beat = data["scenes"][scene - 1]["beats"][1]
    beat["line"] = beat["line"].replace("the ", "that ", 1)
    outline.write_text(yaml.safe_dump(data, sort_keys=False))
    return beat["line"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", default=str(ROOT / "bench" / "output"))
    parser.add_argument("--scenes", type=int, default=10)
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    project = make_project(work / "project", args.scenes)
    print(f"bench: {args.scenes * 3} shots; pipeline (naos render, fresh NAOS_HOME) ...", flush=True)
    pipeline_s = run_pipeline(project, work / "home", work / "out")
    summary = json.loads((work / "out" / "run_summary.json").read_text())
    output = json.loads((work / "out" / "RenderOutput.json").read_text())
    print("bench: pipeline with --workers 2 (Dagster multiprocess executor), fresh NAOS_HOME ...", flush=True)
    parallel_s = run_pipeline(project, work / "home2", work / "out2", workers=2)
    same = (work / "out" / "episode.mp4").read_bytes() == (work / "out2" / "episode.mp4").read_bytes()
    print("bench: floor (one ffmpeg pass over the same timeline) ...", flush=True)
    floor_s = run_floor(work / "out", project, work, work / "home")
    print("bench: re-run with every stage cached ...", flush=True)
    cached_s = run_pipeline(project, work / "home", work / "out-cached")
    print("bench: one line of one scene edited, re-render ...", flush=True)
    edit_one_line(project)
    edit_s = run_pipeline(project, work / "home", work / "out-edit")
    edit = json.loads((work / "out-edit" / "run_summary.json").read_text())
    shot_hits = sum(edit["shot_cache"].values())
    edit_stages = {s["stage"]: s["duration_s"] for s in edit["stages"]}
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "episode_s": output["duration_s"],
        "shots": len(output["shot_clips"]),
        "pipeline_s": round(pipeline_s, 1),
        "floor_s": round(floor_s, 1),
        "ratio": round(pipeline_s / floor_s, 2),
        "pipeline_workers2_s": round(parallel_s, 1),
        "ratio_workers2": round(parallel_s / floor_s, 2),
        "workers2_identical_mp4": same,
        "cached_rerun_s": round(cached_s, 1),
        "edit_rerender_s": round(edit_s, 1),
        "edit_ratio": round(edit_s / pipeline_s, 3),
        "edit_shot_hit_rate": round(shot_hits / len(edit["shot_cache"]), 3),
        "edit_shots_rerendered": sorted(k for k, hit in edit["shot_cache"].items() if not hit),
        "edit_stage_hit_rate": round(edit["cache_hits"] / max(1, edit["cache_hits"] + edit["cache_misses"]), 3),
        "edit_slowest_stages_s": dict(sorted(edit_stages.items(), key=lambda kv: -kv[1])[:4]),
        "per_shot_mean_s": round(sum(s["duration_s"] for s in summary["stages"] if "render_shot_clip[" in s["stage"])
                                 / max(1, len(output["shot_clips"])), 2),
    }
    (work / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"| {result['episode_s']:.0f} s, {result['shots']} shots | {result['floor_s']} s | {result['pipeline_s']} s "
          f"({result['ratio']}) | {result['pipeline_workers2_s']} s ({result['ratio_workers2']}) "
          f"| {result['cached_rerun_s']} s | {result['edit_rerender_s']} s ({result['edit_ratio']}, "
          f"{result['edit_shot_hit_rate']:.0%} shot hits) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
