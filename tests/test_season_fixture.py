"""tests/season.py: the tiny 20-episode season of the load tests is a valid project (its episodes render in
tests/test_production_load.py, on both profiles)."""

from __future__ import annotations

import json

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
