"""`naos backfill` as a user runs it: a three-episode season, real Dagster runs and real ffmpeg on one NAOS_HOME.

The season is rendered once (module fixture); the tests after it re-render it with another profile, fail one
partition and retry it alone, and block one at the Canon Gate, each on the same NAOS_HOME, in this order.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.test_cli import PILOT, _edit_yaml, naos

EPISODES = ["s01e01", "s01e02", "s01e03"]
# everything upstream of the render profile: a profile change must find all of it in the cache
UPSTREAM = ["episode_plan", "canon_diff", "canon_snapshot", "context_pack", "script", "canon_gate", "voice_over",
            "shot_list", "asset_manifest", "recording_packet"]


def _season(dest: Path) -> Path:
    """The pilot trimmed to its first arc (s01e01-s01e03), its library copied (a test breaks an image), and a second
    render profile that only stops burning in captions (defined up front: the project file never changes)."""
    shutil.copytree(PILOT / "episodes", dest / "episodes")
    shutil.copytree(PILOT / "library", dest / "library")
    shutil.copy(PILOT / "project.yaml", dest / "project.yaml")
    shutil.copy(PILOT / "arc.yaml", dest / "arc.yaml")

    def trim(d):
        d["episodes"] = d["episodes"][:3]
        d["render_profiles"]["standard_local"] = {**d["render_profiles"]["preview_local"], "burn_in_captions": False}

    _edit_yaml(dest / "project.yaml", trim)
    _edit_yaml(dest / "arc.yaml", lambda d: d.update(arcs=d["arcs"][:1]))
    return dest / "project.yaml"


def backfill(project: Path, home: Path, out: Path, *args: str):
    return naos("backfill", "--project", str(project), "--out", str(out), *args, home=home, timeout=900)


def report(out: Path) -> dict:
    data = json.loads((out / "backfill.json").read_text())
    data["by_episode"] = {row["episode"]: row for row in data["episodes"]}
    return data


def summary(out: Path, episode: str) -> dict:
    return json.loads((out / episode / "run_summary.json").read_text())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runs(home: Path, **tags: str) -> list[tuple[str, str | None, str]]:
    """(job, partition, status) of the runs on the NAOS_HOME's Dagster instance with these tags, oldest first."""
    from dagster import DagsterInstance, RunsFilter

    instance = DagsterInstance.from_config(str(home / "dagster"))
    try:
        found = instance.get_runs(RunsFilter(tags=tags) if tags else None)
        return [(r.job_name, r.tags.get("dagster/partition"), r.status.value) for r in reversed(found)]
    finally:
        instance.dispose()


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    base = tmp_path_factory.mktemp("backfill")
    project = _season(base / "pilot")
    home, out = base / "home", base / "out1"
    result = backfill(project, home, out, "--season", "1")
    assert result.returncode == 0, result.stderr
    return {"base": base, "project": project, "home": home, "out": out, "first": result}


def test_season_backfill_renders_every_episode_one_run_each(season):
    result, out, home = season["first"], season["out"], season["home"]
    rep = report(out)
    assert rep["exit_code"] == 0 and [r["episode"] for r in rep["episodes"]] == EPISODES
    assert all((r["status"], r["exit_code"]) == ("success", 0) for r in rep["episodes"]), rep
    for i, episode in enumerate(EPISODES, 1):
        assert f"backfill: {episode} ({i}/3) ..." in result.stderr
        assert (out / episode / "episode.mp4").stat().st_size > 0
        s = summary(out, episode)
        assert (s["status"], s["episode_id"], s["run_id"]) == ("success", episode, rep["by_episode"][episode]["run_id"])
        assert rep["by_episode"][episode]["shot_misses"] == len(s["shot_cache"]) > 0  # a fresh NAOS_HOME
    # one run of render_episode per episode partition, in canon order, all tagged with the backfill's id; the
    # earlier canon was settled by the backfill's own runs, so no canon_check run was needed
    assert runs(home, **{"naos/backfill": rep["backfill_id"]}) == [
        ("render_episode", episode, "SUCCESS") for episode in EPISODES]
    table = result.stdout.splitlines()
    assert table[0].split()[:4] == ["episode", "status", "exit", "seconds"]
    assert [line.split()[:3] for line in table[1:]] == [[e, "success", "0"] for e in EPISODES]


def test_profile_change_rerenders_the_season_with_upstream_cache_hits(season):
    """A backfill of the 3 episodes with another profile (captions no longer burned in) re-renders every shot and
    every video; the plan, canon, script, gate, TTS, shot list and the mix are reused from the cache."""
    first, out = season["out"], season["base"] / "out2"
    result = backfill(season["project"], season["home"], out, "--season", "1", "--profile", "standard_local")
    assert result.returncode == 0, result.stderr
    rep = report(out)
    assert [(r["episode"], r["status"]) for r in rep["episodes"]] == [(e, "success") for e in EPISODES]
    for episode in EPISODES:
        before, after = summary(first, episode), summary(out, episode)
        hits = {s["stage"]: s.get("cache_hit") for s in after["stages"]}
        assert {stage: hits[stage] for stage in UPSTREAM} == dict.fromkeys(UPSTREAM, True), (episode, hits)
        assert hits["render_plan"] is False  # the profile is its parameter
        assert after["shot_cache"] and not any(after["shot_cache"].values())  # every shot re-rendered
        assert rep["by_episode"][episode]["shot_misses"] == len(after["shot_cache"])
        for name in [*UPSTREAM, "episode_audio"]:  # the mix, too, is the same artifact (its segments were cached)
            assert after["artifacts"][name] == before["artifacts"][name], (episode, name)
        assert after["artifacts"]["render_output"] != before["artifacts"]["render_output"]
        assert sha(out / episode / "episode.mp4") != sha(first / episode / "episode.mp4")
        assert json.loads((out / episode / "RenderPlan.json").read_text())["profile"] == "standard_local"


def test_concurrent_backfill_settles_the_canon_then_renders_runs_side_by_side(season):
    """--concurrency 3: the canon goes through the gate in order (canon_check runs), then the three render runs at
    once, each in its own process: the same bytes as the one-by-one backfill, throughput and queue wait reported."""
    first, home, out = season["out"], season["home"], season["base"] / "out-concurrent"
    result = backfill(season["project"], home, out, "--season", "1", "--concurrency", "3")
    assert result.returncode == 0, result.stderr
    rep = report(out)
    assert rep["concurrency"] == 3 and rep["exit_code"] == 0
    assert [(r["episode"], r["status"]) for r in rep["episodes"]] == [(e, "success") for e in EPISODES]
    assert rep["episodes_per_minute"] > 0 and rep["wall_s"] > 0
    assert rep["queue_wait_fraction"] == 0.0  # in-process runs: no step is ever queued
    assert all(r["step_s"] > 0 for r in rep["episodes"])
    tagged = runs(home, **{"naos/backfill": rep["backfill_id"]})
    assert sorted(r for r in tagged if r[0] == "render_episode") == [
        ("render_episode", e, "SUCCESS") for e in EPISODES]
    assert [r for r in tagged if r[0] == "canon_check"] == [("canon_check", e, "SUCCESS") for e in EPISODES[:2]]
    assert "rendering 3 episode(s), 3 at a time" in result.stderr
    for episode in EPISODES:
        assert sha(out / episode / "episode.mp4") == sha(first / episode / "episode.mp4")
        assert all(summary(out, episode)["shot_cache"].values())


def test_a_failed_partition_does_not_stop_the_others_and_is_retried_alone(season):
    """An image only s01e02 uses breaks: s01e02 fails after the Canon Gate (exit 4), s01e01 and s01e03 still render
    (cache hits). Mended, `--episodes s01e02` retries that partition alone: one new render run, the same bytes."""
    project, home, first = season["project"], season["home"], season["out"]
    inn = project.parent / "library" / "backgrounds" / "inn.png"
    good = inn.read_bytes()
    out = season["base"] / "out3"
    try:
        inn.write_bytes(b"this is not a png")
        result = backfill(project, home, out, "--season", "1")
    finally:
        inn.write_bytes(good)
    assert result.returncode == 4, result.stderr
    rep = report(out)
    assert [(r["episode"], r["status"], r["exit_code"]) for r in rep["episodes"]] == [
        ("s01e01", "success", 0), ("s01e02", "failure", 4), ("s01e03", "success", 0)]
    assert rep["by_episode"]["s01e01"]["shot_misses"] == rep["by_episode"]["s01e03"]["shot_misses"] == 0
    assert "library:backgrounds/inn.png" in result.stderr
    assert f"--episodes s01e02 --profile preview_local --out {out}" in result.stderr  # the retry, spelled out
    assert not (out / "s01e02" / "episode.mp4").exists()
    assert summary(out, "s01e02")["exit_code"] == 4

    render_runs = len([r for r in runs(home) if r[0] == "render_episode"])
    retry = backfill(project, home, out, "--episodes", "s01e02")
    assert retry.returncode == 0, retry.stderr
    again = report(out)
    assert [(r["episode"], r["status"]) for r in again["episodes"]] == [("s01e02", "success")]
    tagged = runs(home, **{"naos/backfill": again["backfill_id"]})
    # one render run, for s01e02; s01e01 went through the Canon Gate again first (cache hits) as its canon needs
    assert [r for r in tagged if r[0] == "render_episode"] == [("render_episode", "s01e02", "SUCCESS")]
    assert [r for r in tagged if r[0] != "render_episode"] == [("canon_check", "s01e01", "SUCCESS")]
    assert len([r for r in runs(home) if r[0] == "render_episode"]) == render_runs + 1
    assert sha(out / "s01e02" / "episode.mp4") == sha(first / "s01e02" / "episode.mp4")  # the same bytes
    # the clips made with the mended image were in the cache already (the first backfill): nothing re-encoded
    assert all(summary(out, "s01e02")["shot_cache"].values())


def test_a_canon_gate_block_skips_the_later_episodes(season):
    """s01e02 kills Mara in its first scene and keeps her talking: blocked at the gate (exit 3). The canon of s01e03
    folds s01e02's diff, so s01e03 is skipped, named, and nothing runs for it."""
    project, home = season["project"], season["home"]
    outline = project.parent / "episodes" / "s01e02.yaml"
    good = outline.read_text()
    out = season["base"] / "out4"
    try:
        data = yaml.safe_load(good)
        data["new_facts"].append({"subject": "mara", "attribute": "status", "value": "dead", "scene": "sc01"})
        outline.write_text(yaml.safe_dump(data, sort_keys=False))
        result = backfill(project, home, out, "--season", "1")
    finally:
        outline.write_text(good)
    assert result.returncode == 3, result.stderr
    rep = report(out)
    assert [(r["episode"], r["status"], r["exit_code"]) for r in rep["episodes"]] == [
        ("s01e01", "success", 0), ("s01e02", "blocked", 3), ("s01e03", "skipped", None)]
    assert "dead_character_speaks" in result.stderr
    assert "backfill: s01e03 (3/3) skipped: the canon of s01e03 folds the CanonDiffs before it, and s01e02 did not " \
           "get through the Canon Gate" in result.stderr
    assert [p for _, p, _ in runs(home, **{"naos/backfill": rep["backfill_id"]})] == ["s01e01", "s01e02"]
    assert not (out / "s01e03").exists()

    # side by side, the same outcome: s01e02's own render run blocks at the gate, s01e03 is never rendered
    try:
        outline.write_text(yaml.safe_dump(data, sort_keys=False))
        result = backfill(project, home, season["base"] / "out5", "--season", "1", "--concurrency", "3")
    finally:
        outline.write_text(good)
    assert result.returncode == 3, result.stderr
    rep = report(season["base"] / "out5")
    assert [(r["episode"], r["status"], r["exit_code"]) for r in rep["episodes"]] == [
        ("s01e01", "success", 0), ("s01e02", "blocked", 3), ("s01e03", "skipped", None)]
    assert "dead_character_speaks" in result.stderr
    renders = [(p, status) for job, p, status in runs(home, **{"naos/backfill": rep["backfill_id"]})
               if job == "render_episode"]
    assert sorted(renders) == [("s01e01", "SUCCESS"), ("s01e02", "FAILURE")]


@pytest.mark.parametrize(("args", "named"), [
    (["--episodes", "s01e01,s09e09"], ["--episodes", "s09e09"]),
    (["--season", "3"], ["--season 3", "s03eNN"]),
    (["--season", "1", "--episodes", "s01e01"], ["--episodes", "--season"]),
    ([], ["--season", "--episodes"]),
    (["--season", "1", "--profile", "nope"], ["--profile", "nope"]),
    (["--season", "1", "--concurrency", "0"], ["--concurrency", "0"]),
], ids=["unknown episode", "season without episodes", "season and episodes", "neither", "unknown profile",
        "no concurrency"])
def test_bad_arguments_exit_2_naming_the_flag(tmp_path, args, named):
    home = tmp_path / "home"
    result = backfill(PILOT / "project.yaml", home, tmp_path / "out", *args)
    assert result.returncode == 2, result.stderr
    assert all(n in result.stderr for n in named), result.stderr
    assert not home.exists() and not (tmp_path / "out").exists()  # nothing ran, nothing written
