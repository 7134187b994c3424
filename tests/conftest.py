"""Shared fixtures: the pilot example run through the real writing and film engines."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from engines.audio.voice import voice_over
from engines.film import build_manifest, plan_shots
from engines.writing import check_season, load_outline, load_project
from schemas import (
    AssetManifest,
    ContextPack,
    EpisodeOutline,
    EpisodePlan,
    Project,
    Script,
    ShotList,
    VoiceOver,
    sha256_bytes,
)

ROOT = Path(__file__).resolve().parent.parent

# Most tests voice with espeak-ng (formant, 0.004 CPU-s per second of speech) and skip the listening test: they test
# the pipeline, not the voices. The runs that test the default engine (Kokoro, listened to by Whisper) say so by
# dropping these (tests/test_cli.py's pilot render, tests/test_voices.py). Subprocesses inherit them.
DRAFT_VOICES = {"NAOS_VOICE_ENGINE": "espeak-ng", "NAOS_LISTENING_TEST": "0"}
os.environ.update(DRAFT_VOICES)



def require(ok: bool, reason: str) -> None:
    """A test without what it needs skips, except under CI=true: CI installs everything, so there it fails."""
    if not ok:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"CI: {reason}")
        pytest.skip(reason)


PILOT_PROJECT = ROOT / "examples" / "pilot" / "project.yaml"


@dataclass(frozen=True)
class Episode:
    project: Project
    outline: EpisodeOutline | None
    plan: EpisodePlan
    context: ContextPack
    script: Script
    shot_list: ShotList
    manifest: AssetManifest
    voice_over: VoiceOver


_TAKES: dict[str, bytes] = {}  # TTS takes by cache key, for this test session


def _keep(key: str, wav: bytes) -> str:
    _TAKES[key] = wav
    return sha256_bytes(wav)


def run_pilot(episode_id: str, project_file: Path = PILOT_PROJECT) -> Episode:
    """narrative + canon + writing + film for one episode, as the pipeline chains them (earlier diffs that pass the
    gate approved; no recall, which needs the model and adds colour only)."""
    project = load_project(project_file)
    check = next(c for c in check_season(project, project_file) if c.plan.episode_id == episode_id)
    voice = voice_over(check.script, project, _TAKES.get, _keep, force_engine="espeak-ng",
                       listening=False)
    shot_list = plan_shots(check.script, {t.line_id: t.duration_s for t in voice.takes},
                           {t.line_id: t.mouth for t in voice.takes}, {c.id: c.name for c in project.characters})
    manifest = build_manifest(shot_list, project)
    outline, _ = load_outline(project, project_file, episode_id)
    return Episode(project, outline, check.plan, check.context, check.script, shot_list, manifest, voice)


@pytest.fixture(scope="session")
def pipeline():
    """run_pilot itself, for tests that run the engines on their own project files."""
    return run_pilot


@pytest.fixture(scope="session")
def pilot() -> dict[str, Episode]:
    project = load_project(PILOT_PROJECT)
    return {ep.id: run_pilot(ep.id) for ep in project.episodes}


@pytest.fixture(autouse=True)
def _dagster_defs_state_storage_per_test():
    """Dagster keeps the "current defs-state storage" in a context variable; some of its test helpers
    (build_schedule_context, Definitions.validate_loadable) leave it pointing at the instance they used, and a later
    test's materialize() in the same process then reads that disposed instance. Each test starts without one and
    leaves none behind, whatever order pytest-xdist runs the files in."""
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


_SESSION_STARTED = time.time()
FIGURES = Path(__file__).resolve().parent / "output" / "production_load.json"


def pytest_terminal_summary(terminalreporter):
    """The load test's figures (throughput, §29.2 queue wait), when it ran in this session: a test worker's own
    output is not shown under xdist, the controller prints this."""
    if FIGURES.is_file() and FIGURES.stat().st_mtime >= _SESSION_STARTED:
        f = json.loads(FIGURES.read_text())
        terminalreporter.write_line(
            f"production load (tests/test_production_load.py): {f['episodes']} episodes, {f['concurrency']} runs at "
            f"once, {f['celery_workers']} Celery workers of {f.get('processes_per_worker', 1)} processes: {f['episodes_per_minute']:.2f} episodes/min over "
            f"{f['wall_s']:.0f} s; queue wait {100 * f['queue_wait_fraction']:.1f} % of the steps' time "
            f"(§29.2 target <= 20 %)")


# The longest files first: `-n 2 --dist loadfile` hands files out in collection order, so a long file collected last
# keeps one worker busy alone at the end. (tests/test_production_load.py alone takes about 10 minutes.)
LONG_FIRST = ("test_production_load.py", "test_fault_postgres.py", "test_celery.py", "test_backfill.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LONG_FIRST.index(item.path.name) if item.path.name in LONG_FIRST else len(LONG_FIRST))
