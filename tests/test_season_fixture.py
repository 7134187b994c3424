"""tests/season.py: the tiny 20-episode season of the load tests is a valid project and its episodes render."""

from __future__ import annotations

import json
import time

import pytest

from engines.writing import load_outline, load_project
from naos_assets import cli
from tests.season import write_season


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    return write_season(tmp_path_factory.mktemp("season") / "tiny")


def test_season_is_twenty_tiny_episodes(season):
    project = load_project(season)
    assert [e.id for e in project.episodes] == [f"s01e{n:02d}" for n in range(1, 21)]
    profile = project.render_profiles["preview_local"]
    assert (profile.width, profile.height, profile.fps, profile.burn_in_captions) == (320, 180, 12, False)
    assert not any(project.human_checkpoints.model_dump().values())
    scripts = set()
    for episode in project.episodes:
        outline, _ = load_outline(project, season, episode.id)
        assert len(outline.scenes) == 1 and 2 <= len(outline.scenes[0].beats) <= 3
        scripts.add(json.dumps(outline.model_dump(mode="json"), sort_keys=True))
    assert len(scripts) == 20  # no two episodes alike: the load test's artifacts are distinct per episode
    assert not (season.parent / "library").is_symlink()


def test_naos_validate_passes(season, capsys):
    assert cli.main(["validate", "--project", str(season)]) == cli.EXIT_OK
    assert "valid (20 episodes, all through the Canon Gate)" in capsys.readouterr().err


@pytest.mark.slow
def test_one_tiny_episode_renders_in_process(season, tmp_path, monkeypatch):
    """One episode through `naos render` in this process (in-process executor, embedded instance); the seconds it
    takes are what each of the load test's 20 episodes costs."""
    import av

    for name in ("DAGSTER_HOME", "NAOS_PROFILE", "NAOS_REGISTRY"):
        monkeypatch.delenv(name, raising=False)  # restored after the test: the CLI sets DAGSTER_HOME for its run
    monkeypatch.setenv("NAOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NAOS_PROJECT", str(season))
    out = tmp_path / "out"
    started = time.perf_counter()
    code = cli.main(["render", "--project", str(season), "--episode", "s01e01", "--out", str(out)])
    wall = time.perf_counter() - started
    assert code == cli.EXIT_OK
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "success" and summary["cache_misses"] > 0
    with av.open(str(out / "episode.mp4")) as video:
        stream = video.streams.video[0]
        assert (stream.width, stream.height, stream.average_rate) == (320, 180, 12)
        assert video.streams.audio, "the episode has its mix"
    print(f"\ntiny episode s01e01: run {summary['duration_s']:.1f}s, naos render in-process {wall:.1f}s")
