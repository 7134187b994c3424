"""A Dagster logger for the terminal: one line per step start and finish instead of the full event log."""

from __future__ import annotations

import logging
import sys

from dagster import logger


class _Progress(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            # a step's own warnings (a Canon Gate warning, a pending diff left out of canon) are worth a line
            if record.levelno >= logging.WARNING:
                message = meta.get("orig_message") or record.getMessage()
                print(f"naos:   ! {meta.get('step_key') or ''}: {message}", file=sys.stderr, flush=True)
            return
        kind = event.event_type_value
        if kind == "STEP_START":
            line = f"  ▶ {event.step_key}"
        elif kind == "STEP_SUCCESS":
            line = f"  ✓ {event.step_key} ({event.event_specific_data.duration_ms / 1000:.2f}s)"
        elif kind == "STEP_FAILURE":
            line = f"  ✗ {event.step_key}"
        elif kind == "STEP_UP_FOR_RETRY":
            line = f"  ↻ {event.step_key} (retrying)"
        else:
            return
        print(f"naos: {line}", file=sys.stderr, flush=True)


@logger(description="Compact progress lines on stderr (used by `naos render`).")
def naos_progress(_init_context):
    log = logging.getLogger("naos.progress")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    if not log.handlers:
        log.addHandler(_Progress())
    return log
