"""Quality gates (seed 004 §15) on a rendered episode: each a named check with the figures behind its verdict.
A failing gate blocks publish, not the preview render."""

from __future__ import annotations

from schemas import EpisodeAudio, QualityCheck
from schemas.project import DurationWindow

from .captions import Cue

QUALITY_VERSION = "quality-gates@1"
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


def missing_assets(placeholders: list[str]) -> QualityCheck:
    return QualityCheck(name="missing_assets", passed=not placeholders,
                        detail=("placeholders (flagged): " + ", ".join(placeholders)) if placeholders
                        else "every asset came from the library")


def quality_checks(cues: list[Cue], audio: EpisodeAudio, duration_s: float, window: DurationWindow,
                   placeholders: list[str]) -> list[QualityCheck]:
    return [caption_sync(cues, audio), loudness(audio), runtime(duration_s, window), missing_assets(placeholders)]
