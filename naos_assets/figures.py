"""The numbers Dagster plots: materialization and asset check metadata as plain ints and floats under stable labels.

The UI draws a plot for a metadata label whose values are numbers, one point per materialization (or check result),
so a label keeps its type: a figure that does not apply (a silent mix, a listening test that did not run) is left
out, never written as text. Labels: durations in seconds (`duration_s`, `naos/seconds`), loudness in LUFS and dBTP,
costs in USD (`*_usd`), cache hit rates as a fraction from 0 to 1 (`*_hit_rate`), word error rates from 0 up.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas import EpisodeAudio, RenderOutput, VoiceOver


def hit_rate(label: str, hits: int, total: int) -> dict[str, float]:
    """{label: hits / total}, or nothing when there was nothing to look up."""
    return {label: round(hits / total, 4)} if total else {}


def loudness_figures(audio: EpisodeAudio) -> dict[str, float]:
    """The mix as measured (BS.1770): integrated loudness, true peak and loudness range; nothing for a silent mix."""
    m = audio.loudness
    if m is None:
        return {}
    return {"integrated_lufs": float(m.integrated_lufs), "true_peak_dbtp": float(m.true_peak_db),
            "lra_lu": float(m.lra)}


def listening_figures(value: VoiceOver) -> dict[str, float | int]:
    """The listening test's word error rates (mean and worst line) and how many lines were above the threshold;
    nothing when the test did not run."""
    summary = value.listening
    wers = [t.listening.wer for t in value.takes if t.listening]
    if summary is None or not wers:
        return {}
    out: dict[str, float | int] = {"worst_wer": float(max(wers)), "lines_over": len(summary.over)}
    if summary.mean_wer is not None:
        out["mean_wer"] = float(summary.mean_wer)
    return out


def caption_offset_ms(cues: Iterable, audio: EpisodeAudio) -> dict[str, float]:
    """The worst distance, in ms, between a caption cue (engines.video.Cue) and its voice-over line in the mix: the
    figure the caption_sync gate (engines/video/quality.py) judges. Nothing in no-voice mode."""
    placed = {p.line_id: p for p in audio.placements}
    offsets = [max(abs(c.start_s - placed[c.line_id].start_s), abs(c.end_s - placed[c.line_id].end_s))
               for c in cues if c.line_id in placed]
    return {"max_offset_ms": round(max(offsets) * 1000, 1)} if offsets else {}


def quality_figures(output: RenderOutput, audio: EpisodeAudio, cues: Iterable) -> dict[str, dict[str, float | int]]:
    """{check name: its figures} for render_output's checks: what each gate measured, as numbers."""
    return {
        "caption_sync": caption_offset_ms(cues, audio),
        "loudness": loudness_figures(audio),
        "runtime": {"duration_s": float(output.duration_s)},
        "missing_assets": {"placeholders": len(output.placeholders)},
        "rights": {"issues": len(output.rights.issues) if output.rights else 0,
                   "attributions": len(output.rights.attributions) if output.rights else 0},
    }


def clip_figures(clips: list[dict], fps: int) -> dict[str, float | int]:
    """shot_clips: how many shots, the share reused from the cache, the clips' length and the shot steps' time."""
    hits = sum(bool(c["cache_hit"]) for c in clips)
    out: dict[str, float | int] = {"shots": len(clips), "duration_s": round(sum(c["frames"] for c in clips) / fps, 3)}
    if clips and all("seconds" in c for c in clips):
        out["naos/seconds"] = round(sum(c["seconds"] for c in clips), 3)  # summed over the shot steps
    return out | hit_rate("shot_cache_hit_rate", hits, len(clips))


def numbers(details: dict | None) -> dict[str, float | int]:
    """The plain numbers of a dict (not booleans, not nested): a checkpoint's figures, e.g. an estimate in USD."""
    return {k: v for k, v in (details or {}).items() if isinstance(v, int | float) and not isinstance(v, bool)}
