"""`naos backfill`: re-render many episodes (a season, or a list) on one NAOS_HOME, one Dagster run per episode.

Why one run per episode partition (as a UI asset backfill does too, docs/OPERATIONS.md "Backfills"): every asset reads
`context.partition_key`, the episode is the artifact boundary (seed 004 §29.4), and the canon of episode N folds the
CanonDiffs of the episodes before it, so episodes run in project (season) order, each after the earlier ones have
been through the Canon Gate. What a single run would save is the per-run start cost, about a second in-process.

A failing episode does not stop the others, unless it did not get through the Canon Gate (bad input, a gate block,
a failure before the gate): the later episodes' canon cannot be settled then, and they are skipped, named. Every run
of a backfill carries the tag `naos/backfill=<id>`; retrying one episode alone is `naos backfill --episodes <id>`
(or `naos render --episode <id>`): completed steps are cache hits.

`--concurrency N` (N > 1) settles the canon first, every episode through the Canon Gate one by one in order (the
`canon_check` job, in this process whatever the executor: cheap, and cache hits when nothing changed), then renders up to N episodes at once, each its own
`render_episode` run in its own process: once the canon is settled no episode's render reads another's. With the
Celery executor (docs/DEPLOY.md) those runs only orchestrate; the workers do the work. The report then says the
throughput (episodes per minute) and the queue wait as a share of the steps' time (§29.2: target at most 20 %).
"""

from __future__ import annotations

import json
import multiprocessing
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from naos_assets.cli import (
    EXIT_BAD_INPUT,
    EXIT_BLOCKED,
    EXIT_OK,
    EXIT_WAITING,
    _say,
    _write_atomic,
    add_episode_partitions,
    load_checked,
    open_location,
    preflight,
    render_episode,
    settle_earlier_canon,
)

BACKFILL_TAG = "naos/backfill"
STATUS = {EXIT_OK: "success", EXIT_BAD_INPUT: "bad_input", EXIT_BLOCKED: "blocked", EXIT_WAITING: "waiting_for_approval"}


class BackfillArgError(ValueError):
    """A bad command line: the message names the flag."""


@dataclass
class EpisodeResult:
    episode: str
    status: str  # success, failure, blocked, bad_input, waiting_for_approval, skipped
    exit_code: int | None  # None: skipped, nothing ran
    seconds: float = 0.0
    run_id: str | None = None
    cache_hits: int | None = None
    cache_misses: int | None = None
    shot_hits: int | None = None
    shot_misses: int | None = None
    out: str | None = None
    note: str = ""
    queue_wait_s: float | None = None  # the run's steps' seconds waiting in a queue (Celery), summed
    step_s: float | None = None  # the run's steps' seconds executing, summed


def select_episodes(project, season: int | None, episodes: str | None) -> list[str]:
    """The episodes to backfill, in project order (the canon's order): season N's, or the listed ones."""
    from naos_assets.schedules import season_episodes

    order = [e.id for e in project.episodes]
    if (season is None) == (episodes is None):
        raise BackfillArgError("give one of --season N or --episodes a,b,...")
    if season is not None:
        if season < 1:
            raise BackfillArgError(f"--season: {season} is not a season number (1, 2, ...)")
        chosen = season_episodes(order, str(season))
        if not chosen:
            raise BackfillArgError(f"--season {season}: the project lists no episode of season {season} "
                                   f"(s{season:02d}eNN); it has {', '.join(order)}")
        return chosen
    wanted = [e.strip() for e in episodes.split(",") if e.strip()]
    if not wanted:
        raise BackfillArgError("--episodes: no episode ids given (e.g. --episodes s01e02,s01e03)")
    unknown = [e for e in wanted if e not in order]
    if unknown:
        raise BackfillArgError(f"--episodes: no episode {', '.join(map(repr, unknown))} in the project "
                               f"(it has {', '.join(order)})")
    return [e for e in order if e in set(wanted)]


def new_backfill_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


def _gate_passed(summary) -> bool:
    return any(s.stage == "canon_gate" and s.status == "success" for s in summary.stages)


def backfill(project_file: Path, *, season: int | None, episodes: str | None, profile: str, workers: int,
             out: Path, concurrency: int = 1) -> int:
    project = load_checked(project_file)
    if project is None:
        return EXIT_BAD_INPUT
    try:
        chosen = select_episodes(project, season, episodes)
        if profile not in project.render_profiles:
            raise BackfillArgError(f"--profile: {profile!r} is not in the project's render_profiles "
                                   f"({', '.join(project.render_profiles)})")
        if concurrency < 1:
            raise BackfillArgError(f"--concurrency: {concurrency} runs at once is not possible (1, 2, ...)")
    except BackfillArgError as exc:
        _say(f"bad input: {exc}")
        return EXIT_BAD_INPUT
    backfill_id = new_backfill_id()
    tags = {BACKFILL_TAG: backfill_id, "naos/trigger": "naos backfill"}
    home, instance, repo = open_location(project_file)
    add_episode_partitions(instance, project, project_file)
    _say(f"backfill {backfill_id}: {project.id} {', '.join(chosen)} ({profile}) into {out}/<episode>; "
         f"NAOS_HOME={home}; runs tagged {BACKFILL_TAG}={backfill_id}")
    begun = time.time()
    if concurrency > 1:
        results = _concurrently(project_file, project, instance, repo, chosen, profile, workers, out, tags, concurrency)
    else:
        results = _one_by_one(project_file, project, home, instance, repo, chosen, profile, workers, out, tags)
    wall = time.time() - begun
    code = overall_exit_code(results)
    load = throughput(results, wall)
    report = {"backfill_id": backfill_id, "project": project.id, "profile": profile, "exit_code": code,
              "concurrency": concurrency, **load, "episodes": [asdict(r) for r in results]}
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "backfill.json", (json.dumps(report, indent=2, sort_keys=True) + "\n").encode())
    print(format_table(results), flush=True)
    waiting = [r.episode for r in results if r.exit_code == EXIT_WAITING]
    failed = [r.episode for r in results if r.exit_code not in (EXIT_OK, EXIT_WAITING, None)]
    skipped = [r.episode for r in results if r.exit_code is None]
    _say(f"backfill {backfill_id}: {len(results) - len(failed) - len(skipped) - len(waiting)} of {len(results)} "
         f"episode(s) done" + (f"; waiting for approval: {', '.join(waiting)} (naos approvals)" if waiting else "")
         + (f"; failed: {', '.join(failed)}" if failed else "") + (f"; skipped: {', '.join(skipped)}" if skipped else "")
         + f"; exit {code}; report {out / 'backfill.json'}")
    _say(f"backfill {backfill_id}: {load['episodes_per_minute']:.2f} episodes/min over {load['wall_s']:.0f}s; "
         f"queue wait {100 * load['queue_wait_fraction']:.1f} % of the steps' time (§29.2 target <= 20 %)")
    if failed or skipped or waiting:
        retry = ",".join(sorted(failed + skipped + waiting, key=[r.episode for r in results].index))
        _say(f"{'once approved, run them again' if waiting and not (failed or skipped) else 'retry them alone'}: naos backfill --project {project_file} --episodes {retry} --profile {profile} "
             f"--out {out}")
    return code


def throughput(results: list[EpisodeResult], wall_s: float) -> dict[str, float]:
    """Episodes rendered per minute of the backfill's wall time, and the queue wait as a share of the time the
    episodes' steps spent queued or executing (§29.2)."""
    done = sum(r.exit_code == EXIT_OK for r in results)
    wait = sum(r.queue_wait_s or 0.0 for r in results)
    busy = wait + sum(r.step_s or 0.0 for r in results)
    return {"wall_s": round(wall_s, 1), "episodes_per_minute": round(60 * done / wall_s, 3) if wall_s > 0 else 0.0,
            "queue_wait_s": round(wait, 1), "queue_wait_fraction": round(wait / busy, 4) if busy > 0 else 0.0}


def _one_by_one(project_file: Path, project, home: Path, instance, repo, chosen: list[str], profile: str,
                workers: int, out: Path, tags: dict[str, str]) -> list[EpisodeResult]:
    order = [e.id for e in project.episodes]
    results: list[EpisodeResult] = []
    passed: set[str] = set()  # episodes known to have been through the Canon Gate
    unsettled: str | None = None  # why the later episodes' canon cannot be settled
    for i, episode in enumerate(chosen, 1):
        if unsettled is not None:
            note = f"the canon of {episode} folds the CanonDiffs before it, and {unsettled}"
            _say(f"backfill: {episode} ({i}/{len(chosen)}) skipped: {note}")
            results.append(EpisodeResult(episode, "skipped", None, note=note))
            continue
        _say(f"backfill: {episode} ({i}/{len(chosen)}) ...")
        started = time.time()
        result, through_gate = _one_episode(project_file, project, home, instance, repo, episode, profile, workers,
                                            out / episode, tags, passed)
        result.seconds = round(time.time() - started, 1)
        results.append(result)
        _say(f"backfill: {episode} ({i}/{len(chosen)}) {result.status} (exit {result.exit_code}) "
             f"in {result.seconds:.1f}s")
        if through_gate:
            passed.update(order[:order.index(episode) + 1])
        else:
            unsettled = (f"{episode} did not get through the Canon Gate ({result.status}, exit {result.exit_code})"
                         if result.run_id or result.status == "bad_input" else
                         f"an episode before {episode} did not get through the Canon Gate ({result.status}, "
                         f"exit {result.exit_code})")
    return results


def _concurrently(project_file: Path, project, instance, repo, chosen: list[str], profile: str, workers: int,
                  out: Path, tags: dict[str, str], concurrency: int) -> list[EpisodeResult]:
    """The canon first, in order; then up to `concurrency` render runs at once, one process each."""
    from schemas import InputError

    results: dict[str, EpisodeResult] = {}
    ready: list[str] = []
    passed: set[str] = set()
    unsettled: str | None = None
    for i, episode in enumerate(chosen, 1):
        if unsettled is not None:
            results[episode] = EpisodeResult(episode, "skipped", None,
                                             note=f"the canon of {episode} folds the CanonDiffs before it, and {unsettled}")
            continue
        try:
            preflight(project_file, episode)
        except InputError as exc:
            _say(f"bad input: {exc}")
            results[episode] = EpisodeResult(episode, "bad_input", EXIT_BAD_INPUT, note=str(exc))
            unsettled = f"{episode} is bad input"
            continue
        _say(f"backfill: canon of {episode} ({i}/{len(chosen)}) ...")
        # in this process: the canon goes one episode after another by nature, so queueing its steps on Celery
        # would only add the executor's round trips (1-2 s a step); the render runs are what the workers share
        code = settle_earlier_canon(instance, repo, project, episode, settled=passed, tags=tags, in_process=True)
        if code != EXIT_OK:  # an earlier episode did not pass; one of this backfill's is still rendered and says why
            note = f"an episode before {episode} did not pass the Canon Gate (exit {code})"
            results[episode] = (EpisodeResult(episode, "skipped", None, note=note) if ready else
                                EpisodeResult(episode, STATUS.get(code, "failure"), code, note=note))
            unsettled = f"an episode before {episode} did not get through the Canon Gate (exit {code})"
            continue
        order = [e.id for e in project.episodes]
        passed.update(order[:order.index(episode)])
        ready.append(episode)
    _say(f"backfill: canon settled; rendering {len(ready)} episode(s), {concurrency} at a time")
    with ProcessPoolExecutor(max_workers=concurrency, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {episode: pool.submit(_render_in_process, str(project_file), episode, profile, workers,
                                        str(out / episode), tags, episode in passed) for episode in ready}
        for n, episode in enumerate(ready, 1):
            results[episode] = futures[episode].result()
            r = results[episode]
            _say(f"backfill: {episode} ({n}/{len(ready)}) {r.status} (exit {r.exit_code}) in {r.seconds:.1f}s")
    return [results[e] for e in chosen]


def _render_in_process(project_file: str, episode: str, profile: str, workers: int, out: str,
                       tags: dict[str, str], canon_settled: bool) -> EpisodeResult:
    """One episode's render run in a process of its own (the canon is settled already). An episode whose own
    canon_check passed in the canon phase (all but the last) starts after the Canon Gate: its canon steps would be
    cache hits, each still a step (a Celery round trip) of its own."""
    from engines.writing import load_project

    started = time.time()
    project = load_project(project_file)
    home, instance, repo = open_location(Path(project_file))
    result = _episode_result(episode, *render_episode(home, instance, repo, project, episode, profile, workers,
                                                      Path(out), tags=tags, canon_settled=canon_settled),
                             Path(out), instance)
    result.seconds = round(time.time() - started, 1)
    return result


def _episode_result(episode: str, code: int, summary, out: Path, instance) -> EpisodeResult:
    from naos_assets.run_summary import queue_waits

    shots = summary.shot_cache
    steps = queue_waits(instance, summary.run_id).values()
    return EpisodeResult(
        episode, summary.status, code, run_id=summary.run_id, cache_hits=summary.cache_hits,
        cache_misses=summary.cache_misses, shot_hits=sum(shots.values()), shot_misses=len(shots) - sum(shots.values()),
        out=str(out), note="; ".join(f"{e.stage}: {e.message}" for e in summary.errors)[:500],
        queue_wait_s=round(sum(w for w, _ in steps), 3), step_s=round(sum(x for _, x in steps), 3))


def _one_episode(project_file: Path, project, home: Path, instance, repo, episode: str, profile: str, workers: int,
                 out: Path, tags: dict[str, str], passed: set[str]) -> tuple[EpisodeResult, bool]:
    """preflight, the earlier canon, one render run. Also says whether the episode got through the Canon Gate."""
    from schemas import InputError

    try:
        preflight(project_file, episode)
    except InputError as exc:
        _say(f"bad input: {exc}")
        return EpisodeResult(episode, "bad_input", EXIT_BAD_INPUT, note=str(exc)), False
    code = settle_earlier_canon(instance, repo, project, episode, settled=passed, tags=tags)
    if code != EXIT_OK:  # an earlier episode outside this backfill did not get through the Canon Gate
        return EpisodeResult(episode, STATUS.get(code, "failure"), code,
                             note=f"an episode before {episode} did not pass the Canon Gate"), False
    code, summary = render_episode(home, instance, repo, project, episode, profile, workers, out, tags=tags)
    result = _episode_result(episode, code, summary, out, instance)
    # failed after the gate (a shot, the mix): its canon is settled, so the later episodes can go on
    return result, code == EXIT_OK or _gate_passed(summary)


def overall_exit_code(results: list[EpisodeResult]) -> int:
    """exit_code_of's convention over the episodes that ran: bad input (2) first, else the worst code."""
    codes = [r.exit_code for r in results if r.exit_code not in (None, EXIT_OK)]
    if not codes:
        return EXIT_OK
    return EXIT_BAD_INPUT if EXIT_BAD_INPUT in codes else max(codes)


def format_table(results: list[EpisodeResult]) -> str:
    head = ("episode", "status", "exit", "seconds", "shot hits", "shot misses", "run")
    rows = [head] + [(r.episode, r.status, "-" if r.exit_code is None else str(r.exit_code),
                      "-" if r.exit_code is None else f"{r.seconds:.1f}",
                      "-" if r.shot_hits is None else str(r.shot_hits),
                      "-" if r.shot_misses is None else str(r.shot_misses),
                      (r.run_id or "-")[:8]) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
