"""Canon fold + Canon Gate per episode on a synthetic season whose canon grows to about 10,000 facts.

50 episodes; each one's CanonDiff moves characters, sets persistent states, teaches secrets, adds relationships
(some under an acyclic rule), opens and pays off promises, kills a character; each script has 8 scenes of 20 beats.
Per episode it times fold + check_episode and prints one JSON line: `ms_per_episode_*` folds every earlier diff
from the initial canon (as the canon_snapshot asset does), `incremental_*` folds on from the previous episode's
snapshot (one diff; the same bytes). Seed 004 §29: at most 10 s per episode; our aim is 200 ms.

    python bench/canon_gate.py [--episodes 50]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.canon import check_episode, fold, initial_canon  # noqa: E402
from schemas import (  # noqa: E402
    Canon,
    CanonDiff,
    CanonFact,
    Character,
    EpisodeRef,
    Location,
    Project,
    Prop,
    Script,
    ScriptElement,
    ScriptScene,
)
from schemas.canon import WorldRule  # noqa: E402
from schemas.project import DurationWindow, RelationshipSeed, SecretSeed, World  # noqa: E402

WORDS = ("the lamp keeper watched black water roll against stones while gulls circled over harbor and tide crept up "
         "slipway one patient wave after another until night came down").split()
CHARACTERS, LOCATIONS, PROPS, SECRETS, STATES = 300, 80, 1000, 60, 20
SCENES, BEATS, CAST = 8, 20, 10


def make_project(episodes: int) -> Project:
    chars = [f"c{i:03d}" for i in range(CHARACTERS)]
    return Project.new(
        id="bench", title="Canon bench", target_duration_s=DurationWindow(min=30, max=90), asset_library="library",
        story_year=1900, episodes=[EpisodeRef(id=f"s01e{n:02d}", outline="x.yaml") for n in range(1, episodes + 1)],
        characters=[Character(id=c, name=f"Character {c}", age=20 + i % 50, location=f"l{i % LOCATIONS:02d}")
                    for i, c in enumerate(chars)],
        locations=[Location(id=f"l{i:02d}", name=f"Place {i}") for i in range(LOCATIONS)],
        props=[Prop(id=f"p{i:04d}", name=f"Prop {i}", location=f"l{i % LOCATIONS:02d}") for i in range(PROPS)],
        world=World(
            relations=["parent_of", "friend_of"], states=[f"state_{i:02d}" for i in range(STATES)],
            rules=[WorldRule(id="no-ancestor-loops", kind="acyclic", relation="parent_of"),
                   *[WorldRule(id=f"keep-out-{i}", kind="forbidden_location", character=chars[i],
                              location=f"l{LOCATIONS - 1:02d}") for i in range(20)]],
            secrets=[SecretSeed(id=f"s{i:02d}", statement=f"secret {i}", keywords=[f"kw{i:02d}", f"hush {i:02d}"],
                                known_by=[chars[i]]) for i in range(SECRETS)],
            relationships=[RelationshipSeed(source=chars[i], relation="parent_of", target=chars[i + 1])
                           for i in range(0, 100, 2)],
        ),
    )


def fact(episode: str, subject: str, attribute: str, value, scene: str | None = None) -> CanonFact:
    return CanonFact(subject=subject, attribute=attribute, value=value, episode_id=episode, scene_id=scene)


def make_episode(rng: random.Random, n: int, alive: list[str], promises: list[str]) -> tuple[CanonDiff, Script]:
    """A valid diff and a contradiction-free script for episode n (alive: who may appear)."""
    episode = f"s01e{n:02d}"
    scenes, added, modified = [], [], []
    free_locations = [f"l{i:02d}" for i in range(LOCATIONS - 1)]  # the last one is forbidden to some
    for k in range(SCENES):
        sid, loc = f"sc{k + 1:02d}", rng.choice(free_locations)
        cast = rng.sample(alive, CAST)
        elements = []
        for b in range(BEATS):
            who = cast[b % CAST]
            words = " ".join(rng.choice(WORDS) for _ in range(12))
            if b % 4 == 3:
                elements.append(ScriptElement(kind="action", text=words, actors=[who]))
            else:
                elements.append(ScriptElement(kind="dialogue", text=words, speaker_id=who,
                                              speaker_name=f"Character {who}", line_id=f"{sid}_l{b:03d}"))
        scenes.append(ScriptScene(id=sid, location_id=loc, location_name=loc, time=f"day {n}, hour {k}",
                                  characters=cast, elements=elements))
        modified += [fact(episode, c, "location", loc, sid) for c in cast]
    for i in range(170):  # persistent states: mostly new (subject, state) pairs
        subject = rng.choice([f"p{rng.randrange(PROPS):04d}", f"l{rng.randrange(LOCATIONS):02d}", rng.choice(alive)])
        modified.append(fact(episode, subject, f"state_{rng.randrange(STATES):02d}", f"{episode} value {i}"))
    for _ in range(20):
        added.append(fact(episode, rng.choice(alive), "knows", f"s{rng.randrange(SECRETS):02d}"))
    for _ in range(15):
        a, b = sorted(rng.sample(range(CHARACTERS), 2))
        added.append(fact(episode, f"c{a:03d}", rng.choice(["parent_of", "friend_of"]), f"c{b:03d}"))
    for i in range(3):
        added.append(fact(episode, f"{episode}-thread-{i}", "promise", f"What happened in {episode}, thread {i}?"))
    for pid in promises[:2]:
        modified.append(fact(episode, pid, "status", "resolved"))
    del promises[:2]
    promises += [f"{episode}-thread-{i}" for i in range(3)]
    for i in range(4):
        added.append(fact(episode, "story", "event", f"{episode}: event {i}"))
    if n % 10 == 0:
        modified.append(fact(episode, "story", "year", 1900 + n // 10))
    dead = alive.pop(rng.randrange(len(alive)))  # dies at the end: never appears again
    modified.append(fact(episode, dead, "status", "dead"))
    diff = CanonDiff.new(project_id="bench", episode_id=episode, arc_id="season", added_facts=added,
                         modified_facts=modified, approval_status="approved")
    script = Script.new(project_id="bench", episode_id=episode, episode_number=n, title=episode, summary=episode,
                        scenes=scenes, generator="bench@1")
    return diff, script


def fact_count(canon: Canon) -> int:
    return sum(len(getattr(canon, name)) for name in (
        "characters", "locations", "props", "secrets", "knowledge", "relationships", "promises", "timeline_events",
        "persistent_states", "world_rules"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Canon fold + gate per episode on a synthetic season.")
    parser.add_argument("--episodes", type=int, default=50)
    args = parser.parse_args(argv)
    rng = random.Random(4)
    project = make_project(args.episodes)
    order = [e.id for e in project.episodes] + ["end"]
    initial = initial_canon(project)
    alive = [c.id for c in initial.characters]
    promises: list[str] = []
    diffs: list[CanonDiff] = []
    previous = initial
    full_ms, step_ms, gate_ms = [], [], []
    blocked = 0
    for n in range(1, args.episodes + 1):
        diff, script = make_episode(rng, n, alive, promises)
        episode = diff.episode_id
        t0 = time.perf_counter()
        canon = fold(initial, diffs, order, episode)  # as the canon_snapshot asset does: from the initial canon
        t1 = time.perf_counter()
        step = fold(previous, diffs, order, episode)  # from the previous episode's snapshot: one diff
        t2 = time.perf_counter()
        result = check_episode(canon, script, diff, continuity_mode="standard", arc_end=False)
        t3 = time.perf_counter()
        assert step.canonical_bytes() == canon.canonical_bytes()
        blocked += result.status == "blocked"
        full_ms.append((t1 - t0) * 1000)
        step_ms.append((t2 - t1) * 1000)
        gate_ms.append((t3 - t2) * 1000)
        diffs.append(diff)
        previous = canon
    final = fold(initial, diffs, order, "end")
    per_episode = [f + g for f, g in zip(full_ms, gate_ms, strict=True)]
    incremental = [f + g for f, g in zip(step_ms, gate_ms, strict=True)]
    out = {
        "bench": "canon_gate",
        "episodes": args.episodes,
        "facts": fact_count(final),
        "diff_facts_per_episode": round(statistics.mean(
            len(d.added_facts) + len(d.modified_facts) + len(d.removed_facts) for d in diffs)),
        "beats_per_episode": SCENES * BEATS,
        "ms_per_episode_mean": round(statistics.mean(per_episode), 1),
        "ms_per_episode_p95": round(percentile(per_episode, 0.95), 1),
        "ms_per_episode_max": round(max(per_episode), 1),
        "incremental_ms_per_episode_mean": round(statistics.mean(incremental), 1),
        "incremental_ms_per_episode_p95": round(percentile(incremental, 0.95), 1),
        "full_fold_ms_mean": round(statistics.mean(full_ms), 1),
        "step_fold_ms_mean": round(statistics.mean(step_ms), 1),
        "gate_ms_mean": round(statistics.mean(gate_ms), 1),
        "gate_ms_p95": round(percentile(gate_ms, 0.95), 1),
        "blocked_episodes": blocked,
        "target_ms": 200,
        "seed_limit_ms": 10_000,
        "python": platform.python_version(),
    }
    print(json.dumps(out, sort_keys=True))
    return out


if __name__ == "__main__":
    main()
