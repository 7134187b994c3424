"""Quality gates (seed 004 §15) on a rendered episode: each a named check with the figures behind its verdict.
A failing gate blocks publish, not the preview render."""

from __future__ import annotations

from collections.abc import Sequence

from schemas import EpisodeAudio, QualityCheck
from schemas.artifacts import ResolvedAsset
from schemas.project import DurationWindow

from .captions import Cue

QUALITY_VERSION = "quality-gates@2"  # @2: missing_assets counts the assets by source
CAPTION_SYNC_S = 0.100
LOUDNESS_LU = 1.0
TRUE_PEAK_SLACK_DB = 0.1  # the meter reads to 0.1 dB
QUALITY_GATES = {  # name -> what passing means, in the order quality_checks returns them
    "caption_sync": "every cue within ±100 ms of its voice-over line",
    "loudness": "integrated loudness within ±1 LU of the project's target, true peak under its ceiling",
    "runtime": "episode duration within the project's target_duration_s window",
    "missing_assets": "no placeholder in the episode (each one is listed and flagged)",
}


def caption_sync(cues: list[Cue], audio: EpisodeAudio) -> QualityCheck:
    """Every cue starts and ends within ±100 ms of its voice-over line in the mix."""
    placed = {p.line_id: p for p in audio.placements}
    if not placed:
        return QualityCheck(name="caption_sync", passed=False,
                            detail="no voice-over in the mix (no-voice mode): captions follow estimated timing")
    worst, worst_line, missing = 0.0, "", []
    for cue in cues:
        p = placed.get(cue.line_id)
        if p is None:
            missing.append(cue.line_id)
            continue
        off = max(abs(cue.start_s - p.start_s), abs(cue.end_s - p.end_s))
        if off >= worst:
            worst, worst_line = off, cue.line_id
    passed = worst <= CAPTION_SYNC_S and not missing
    detail = f"worst offset {worst * 1000:.0f} ms ({worst_line}) over {len(cues)} cues; limit ±100 ms"
    if missing:
        detail += f"; cues without a voiced line: {', '.join(missing)}"
    return QualityCheck(name="caption_sync", passed=passed, detail=detail)


def loudness(audio: EpisodeAudio) -> QualityCheck:
    m = audio.loudness
    if m is None:
        return QualityCheck(name="loudness", passed=False, detail="silent mix: nothing to measure")
    passed = abs(m.integrated_lufs - audio.target_lufs) <= LOUDNESS_LU and \
        m.true_peak_db <= audio.true_peak_target_db + TRUE_PEAK_SLACK_DB
    return QualityCheck(name="loudness", passed=passed,
                        detail=f"{m.integrated_lufs:.1f} LUFS (target {audio.target_lufs:.1f} ±{LOUDNESS_LU:.0f} LU), "
                               f"true peak {m.true_peak_db:.1f} dBTP (limit {audio.true_peak_target_db:.1f})")


def runtime(duration_s: float, window: DurationWindow) -> QualityCheck:
    return QualityCheck(name="runtime", passed=window.min <= duration_s <= window.max,
                        detail=f"{duration_s:.1f} s; the project's window is {window.min:g}-{window.max:g} s")


SOURCE_WORDS = {"library": "from the library", "generative_local": "generated locally", "cache": "from the cache"}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def asset_sources(assets: Sequence[ResolvedAsset]) -> str:
    """Where the episode's assets came from, counted by source, e.g. "7 assets resolved: 4 from the library, 3
    generated locally; none missing". A source that charged says so ("paid, 0.25 USD"); optional assets no source had
    (an expression: the portrait is drawn) and flagged placeholders are listed by id."""
    resolved = [a for a in assets if a.status == "resolved"]
    groups: dict[str, list[ResolvedAsset]] = {}
    for a in resolved:
        groups.setdefault(a.source or "unknown", []).append(a)
    parts = []
    known = list(SOURCE_WORDS)
    for source, members in sorted(groups.items(), key=lambda kv: (0, known.index(kv[0]), "") if kv[0] in known
                                  else (1, 0, kv[0])):
        words = SOURCE_WORDS.get(source, f"from {source}")
        cost = sum(a.cost_usd for a in members)
        parts.append(f"{len(members)} {words}" + (f" (paid, {cost:.2f} USD)" if cost > 0 else ""))
    detail = _count(len(resolved), "asset") + " resolved" + (": " + ", ".join(parts) if parts else "")
    optional = [a.asset_id for a in assets if a.status == "placeholder" and not a.flagged]
    if optional:
        detail += f"; {_count(len(optional), 'optional asset')} left out ({', '.join(optional)})"
    missing = [a.asset_id for a in assets if a.status == "placeholder" and a.flagged]
    return detail + (f"; {len(missing)} missing, flagged placeholders: {', '.join(missing)}" if missing
                     else "; none missing")


def missing_assets(placeholders: list[str], assets: Sequence[ResolvedAsset] = ()) -> QualityCheck:
    """Passes without a flagged placeholder; the detail counts the RenderPlan's assets by where they came from."""
    if assets:
        detail = asset_sources(assets)
    else:
        detail = ("placeholders (flagged): " + ", ".join(placeholders)) if placeholders else "no flagged placeholder"
    return QualityCheck(name="missing_assets", passed=not placeholders, detail=detail)


def quality_checks(cues: list[Cue], audio: EpisodeAudio, duration_s: float, window: DurationWindow,
                   placeholders: list[str], assets: Sequence[ResolvedAsset] = ()) -> list[QualityCheck]:
    return [caption_sync(cues, audio), loudness(audio), runtime(duration_s, window),
            missing_assets(placeholders, assets)]
