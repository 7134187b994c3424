"""The listening test as a Dagster asset check on voice_over, and the run's voice switches."""

from __future__ import annotations

import os

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from schemas import Project, VoiceOver

from ..figures import listening_figures

LISTENING_CHECK = "listening_test"


def voice_switches() -> tuple[str | None, bool | None]:
    """(NAOS_VOICE_ENGINE: every voice on this engine, for a quick draft; NAOS_LISTENING_TEST=0/1: the listening
    test off/on whatever the project says). Unset: the project decides."""
    force = os.environ.get("NAOS_VOICE_ENGINE", "").strip() or None
    flag = os.environ.get("NAOS_LISTENING_TEST", "").strip().lower()
    listening = None if not flag else flag not in ("0", "off", "false", "no")
    return force, listening


def listening_params(project: Project, listening: bool | None) -> dict:
    """What decides the listening test's result, for the stage's cache key."""
    enabled = project.audio.listening_test.enabled if listening is None else listening
    if not enabled:
        return {"enabled": False}
    from engines.audio import listen

    return {"enabled": True, "max_wer": project.audio.listening_test.max_wer,
            "recognizer": listen.version() if listen.available() else "none"}


def listening_check(value: VoiceOver) -> AssetCheckResult:
    """Warns (never blocks) when a line was misheard above the threshold, or when the test could not run."""
    summary = value.listening
    if not value.voiced or summary is None or summary.recognizer == "none":
        note = (summary.note if summary else "") or "no voices"
        return AssetCheckResult(check_name=LISTENING_CHECK, passed=note == "off for this run",
                                severity=AssetCheckSeverity.WARN, metadata={"detail": f"not run: {note}"})
    worst = "; ".join(f"{c.line_id} WER {c.wer:.2f}, misheard: {', '.join(c.misheard) or '-'} "
                      f"(heard {c.transcript!r})" for c in summary.over)
    detail = (f"{len(summary.over)} of {len(value.takes)} lines above WER {summary.max_wer}: {worst}" if summary.over
              else f"every line heard (mean WER {summary.mean_wer:.3f}, threshold {summary.max_wer})")
    if value.unknown_names:
        detail += f"; names without a pronunciation: {', '.join(value.unknown_names)}"
    return AssetCheckResult(
        check_name=LISTENING_CHECK, passed=not summary.over, severity=AssetCheckSeverity.WARN,
        metadata={"detail": detail, **listening_figures(value), "recognizer": summary.recognizer,
                  "per_line": MetadataValue.json({t.line_id: t.listening.wer for t in value.takes if t.listening})})


def listening_rows(value: VoiceOver) -> list[dict]:
    """Per voiced line, for the run summary: line, speaker, engine:voice, WER and misheard words."""
    return [{"line_id": t.line_id, "speaker_id": t.speaker_id, "voice": f"{t.engine}:{t.voice}",
             "wer": t.listening.wer if t.listening else None,
             "misheard": t.listening.misheard if t.listening else []} for t in value.takes if t.engine]


def voice_warnings(value: VoiceOver) -> list[str]:
    """What the run summary warns about: names no pronunciation covers (once a season), voices not installed here
    (the listening test has its own check)."""
    out = [f"names without a pronunciation (first said in {value.episode_id}): {', '.join(value.unknown_names)}; "
           f"add them to the project's pronunciations"] if value.unknown_names else []
    return out + list(value.warnings)
