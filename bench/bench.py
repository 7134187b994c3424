"""`make bench`: a 10-minute, 30-shot episode through the whole pipeline, against one ffmpeg pass (the floor).

Both are measured side by side in this one run, on this machine; the ratio is what docs/PERFORMANCE.md records.
Voices: the default first (the project's voices, Kokoro, with the listening test on), rendered cold (a fresh
NAOS_HOME), re-run all cached, and re-rendered after a one-line edit (warm: every other take from the cache); then the
draft voices (NAOS_VOICE_ENGINE=espeak-ng, NAOS_LISTENING_TEST=0) cold and after the same edit, and the same episode
cold at `--profile standard_local` (1080p), unless --no-draft.
`--workers2` adds a cold render with the multiprocess executor (in the draft voices, when they run).
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


VOICE_SWITCHES = ("NAOS_VOICE_ENGINE", "NAOS_LISTENING_TEST")
DEFAULT = {}  # the project decides: its Kokoro voices, the listening test on
DRAFT = {"NAOS_VOICE_ENGINE": "espeak-ng", "NAOS_LISTENING_TEST": "0"}  # the quick draft (and the test suite's)


def run_pipeline(project: Path, home: Path, out: Path, workers: int = 1, voices: dict[str, str] = DEFAULT,
                 profile: str = "preview_local") -> float:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME" and k not in VOICE_SWITCHES}
    env.update(voices, NAOS_HOME=str(home))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "naos_assets.cli", "render", "--project", str(project), "--episode",
                    "s01e01", "--out", str(out), "--workers", str(workers), "--profile", profile], cwd=ROOT, env=env,
                   check=True)
    return time.perf_counter() - started


def clips_s(out: Path) -> float:
    """Seconds the run spent rendering shot clips (the part a profile changes)."""
    return round(sum(d for stage, d in stages(out).items() if "render_shot_clip[" in stage), 1)


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


def stages(out: Path) -> dict[str, float]:
    return {s["stage"]: s["duration_s"] for s in json.loads((out / "run_summary.json").read_text())["stages"]}


def voices_of(out: Path) -> dict:
    """What the run's voice-over was: engines, seconds of speech, the listening test's mean WER."""
    vo = json.loads((out / "VoiceOver.json").read_text())
    return {"engine": vo["engine"], "speech_s": round(sum(t["duration_s"] for t in vo["takes"]), 1),
            "lines": len(vo["takes"]), "listening_mean_wer": (vo.get("listening") or {}).get("mean_wer")}


def edit_figures(out: Path, full_s: float, edit_s: float) -> dict:
    edit = json.loads((out / "run_summary.json").read_text())
    shot_hits = sum(edit["shot_cache"].values())
    edit_stages = stages(out)
    return {
        "edit_rerender_s": round(edit_s, 1),
        "edit_ratio": round(edit_s / full_s, 3),
        "edit_voice_over_s": edit_stages.get("voice_over"),
        "edit_shot_hit_rate": round(shot_hits / len(edit["shot_cache"]), 3),
        "edit_shots_rerendered": sorted(k for k, hit in edit["shot_cache"].items() if not hit),
        "edit_stage_hit_rate": round(edit["cache_hits"] / max(1, edit["cache_hits"] + edit["cache_misses"]), 3),
        "edit_slowest_stages_s": dict(sorted(edit_stages.items(), key=lambda kv: -kv[1])[:4]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", default=str(ROOT / "bench" / "output"))
    parser.add_argument("--scenes", type=int, default=10)
    parser.add_argument("--no-draft", action="store_true", help="skip the espeak-ng draft voices")
    parser.add_argument("--workers2", action="store_true", help="also render cold with --workers 2")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    project = make_project(work / "project", args.scenes)
    print(f"bench: {args.scenes * 3} shots; pipeline, default voices (Kokoro, listening test), fresh NAOS_HOME ...",
          flush=True)
    pipeline_s = run_pipeline(project, work / "home", work / "out")
    summary = json.loads((work / "out" / "run_summary.json").read_text())
    output = json.loads((work / "out" / "RenderOutput.json").read_text())
    cold_stages = stages(work / "out")
    print("bench: floor (one ffmpeg pass over the same timeline) ...", flush=True)
    floor_s = run_floor(work / "out", project, work, work / "home")
    print("bench: re-run with every stage cached ...", flush=True)
    cached_s = run_pipeline(project, work / "home", work / "out-cached")
    print("bench: one line of one scene edited, re-render (warm: the other takes from the cache) ...", flush=True)
    edit_one_line(project, min(5, args.scenes))
    edit_s = run_pipeline(project, work / "home", work / "out-edit")
    default = {
        "voices": "project (Kokoro), listening test on",
        **voices_of(work / "out"),
        "pipeline_s": round(pipeline_s, 1),
        "ratio": round(pipeline_s / floor_s, 2),
        "voice_over_s": cold_stages.get("voice_over"),
        "voice_over_share": round(cold_stages.get("voice_over", 0.0) / pipeline_s, 3),
        "cached_rerun_s": round(cached_s, 1),
        **edit_figures(work / "out-edit", pipeline_s, edit_s),
    }
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "episode_s": output["duration_s"],
        "shots": len(output["shot_clips"]),
        "floor_s": round(floor_s, 1),
        "default": default,
        "per_shot_mean_s": round(sum(s["duration_s"] for s in summary["stages"] if "render_shot_clip[" in s["stage"])
                                 / max(1, len(output["shot_clips"])), 2),
    }
    if not args.no_draft:
        draft_project = make_project(work / "project-draft", args.scenes)
        print("bench: draft voices (NAOS_VOICE_ENGINE=espeak-ng, NAOS_LISTENING_TEST=0), fresh NAOS_HOME ...",
              flush=True)
        draft_s = run_pipeline(draft_project, work / "home-draft", work / "out-draft", voices=DRAFT)
        draft_output = json.loads((work / "out-draft" / "RenderOutput.json").read_text())
        print("bench: draft voices, the same edit, re-render ...", flush=True)
        edit_one_line(draft_project, min(5, args.scenes))
        draft_edit_s = run_pipeline(draft_project, work / "home-draft", work / "out-draft-edit", voices=DRAFT)
        result["draft"] = {
            "voices": "NAOS_VOICE_ENGINE=espeak-ng, NAOS_LISTENING_TEST=0",
            **voices_of(work / "out-draft"),
            "episode_s": draft_output["duration_s"],  # the floor was timed on the default's timeline
            "pipeline_s": round(draft_s, 1),
            "ratio": round(draft_s / floor_s, 2),
            "voice_over_s": stages(work / "out-draft").get("voice_over"),
            **edit_figures(work / "out-draft-edit", draft_s, draft_edit_s),
        }
        result["default_over_draft"] = {"cold": round(pipeline_s / draft_s, 2),
                                        "edit_rerender": round(edit_s / draft_edit_s, 2)}
        # issue 16: standard_local (1080p, richer motion) against preview_local, the same episode, both cold
        standard_project = make_project(work / "project-standard", args.scenes)
        print("bench: standard_local (1080p), draft voices, fresh NAOS_HOME ...", flush=True)
        standard_s = run_pipeline(standard_project, work / "home-standard", work / "out-standard", voices=DRAFT,
                                  profile="standard_local")
        result["standard"] = {
            "profile": "standard_local (1920x1080, ken_burns openings, push-ins on wide and two-shots)",
            "pipeline_s": round(standard_s, 1),
            "over_preview": round(standard_s / draft_s, 2),
            "clips_s": clips_s(work / "out-standard"),
            "preview_clips_s": clips_s(work / "out-draft"),
            "clips_over_preview": round(clips_s(work / "out-standard") / max(0.1, clips_s(work / "out-draft")), 2),
        }
    if args.workers2:
        voices, base = (DEFAULT, work / "out") if args.no_draft else (DRAFT, work / "out-draft")
        label = "default" if args.no_draft else "draft"
        print(f"bench: pipeline with --workers 2 (Dagster multiprocess executor), {label} voices, fresh NAOS_HOME ...",
              flush=True)
        fresh = make_project(work / "project-workers2", args.scenes)
        parallel_s = run_pipeline(fresh, work / "home2", work / "out2", workers=2, voices=voices)
        result["workers2"] = {"voices": label, "pipeline_s": round(parallel_s, 1),
                              "ratio": round(parallel_s / floor_s, 2),
                              "identical_mp4": (base / "episode.mp4").read_bytes()
                              == (work / "out2" / "episode.mp4").read_bytes()}
    result["bench_wall_s"] = round(time.perf_counter() - started, 1)
    result["load_avg_1min"] = round(os.getloadavg()[0], 2)
    (work / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for name in ("default", "draft"):
        if name in result:
            r = result[name]
            print(f"| {name} | {r['episode_s'] if 'episode_s' in r else result['episode_s']:.0f} s, "
                  f"{r['speech_s']} s speech | {result['floor_s']} s | {r['pipeline_s']} s ({r['ratio']}) "
                  f"| {r['voice_over_s']} s | {r.get('cached_rerun_s', '-')} s | {r['edit_rerender_s']} s "
                  f"({r['edit_ratio']}, {r['edit_shot_hit_rate']:.0%} shot hits) | {r['edit_voice_over_s']} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
