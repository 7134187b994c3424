"""§13 queues as Dagster pools (§29.2 sizes): every step is in its queue, sizes apply without overriding a limit set
by hand, and a step waits while its queue is full, across runs, then goes on (a real run on a real instance)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from naos_assets.queues import SIZES, apply_queue_sizes, queue_sizes

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "examples" / "pilot" / "project.yaml"


def test_every_step_of_an_episode_is_in_a_queue():
    from naos_assets.definitions import defs

    job = defs.resolve_job_def("render_episode")
    pools = {}
    for node in job.graph.iterate_op_defs():
        pools[node.name] = node.pool
    assert pools["render_shot_clip"] == pools["render_output"] == pools["episode_audio"] == "cpu_queue"
    assert pools["canon_gate"] == pools["shot_list"] == "cpu_queue"
    assert pools["script"] == pools["episode_plan"] == pools["context_pack"] == pools["voice_over"] == "local_ai_queue"
    assert pools["render_plan"] == "media_queue"
    # only the checkpoints (a lookup) and the shot fan-out/collect steps take no slot
    assert {name for name, pool in pools.items() if pool is None} == {
        "canon_diff_approval", "shotlist_timing_lock", "external_spend_approval", "character_pack_approval",
        "plan_shot_steps", "collect_clips"}
    assert set(pools.values()) - {None} <= set(SIZES)


def test_sizes_apply_to_pools_nobody_sized(tmp_path, monkeypatch):
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path))
    instance.event_log_storage.set_concurrency_slots("media_queue", 7)  # set by hand (UI or dagster CLI)
    monkeypatch.setenv("NAOS_QUEUE_CPU_QUEUE", "3")
    limits = apply_queue_sizes(instance)
    assert limits == {"cpu_queue": 3, "local_ai_queue": 1, "media_queue": 7, "external_ai_queue": 2}
    assert {p.name: p.limit for p in instance.event_log_storage.get_pool_limits()} == limits
    monkeypatch.setenv("NAOS_QUEUE_LOCAL_AI_QUEUE", "many")
    with pytest.raises(ValueError, match="NAOS_QUEUE_LOCAL_AI_QUEUE: 'many' is not a whole number"):
        queue_sizes()
    monkeypatch.setenv("NAOS_QUEUE_LOCAL_AI_QUEUE", "0")
    with pytest.raises(ValueError, match="at least one slot"):
        queue_sizes()


@pytest.mark.slow
def test_a_step_waits_while_its_queue_is_full_then_runs(tmp_path):
    """Another run holds local_ai_queue's one slot: `naos render` waits at its first local-AI step (the episode
    plan), nothing after it runs, and it finishes once the slot is freed."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    env["NAOS_HOME"] = str(home)
    assert subprocess.run([sys.executable, "-m", "naos_assets.cli", "queues"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120).returncode == 0
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(str(home / "dagster")))
    storage = instance.event_log_storage
    assert storage.claim_concurrency_slot("local_ai_queue", "another-run", "its_step").is_claimed
    proc = subprocess.Popen([sys.executable, "-m", "naos_assets.cli", "render", "--project", str(PILOT), "--episode",
                             "s01e01", "--out", str(tmp_path / "out")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and storage.get_concurrency_info("local_ai_queue").pending_step_count == 0:
            time.sleep(0.5)
        info = storage.get_concurrency_info("local_ai_queue")
        assert info.pending_step_count == 1 and info.active_run_ids == {"another-run"}
        time.sleep(5)  # still waiting: no step after the plan ran
        assert proc.poll() is None
        assert not (home / "artifacts" / "refs" / "script").exists()
        storage.free_concurrency_slots_for_run("another-run")
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert (tmp_path / "out" / "episode.mp4").stat().st_size > 0
    assert storage.get_concurrency_info("local_ai_queue").active_slot_count == 0
