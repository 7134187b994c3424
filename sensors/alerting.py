"""The alert emitter (seed 004 §33): plain Python and the standard library only, so it works when the pipeline does not.

Every alert carries run_id, stage, site_id, alert_type, severity, timestamp and a deep link to the run in the UI. It
is appended to `$NAOS_HOME/alerts/alerts.jsonl` (always) and POSTed as JSON to a webhook when one is configured and
the alert's severity reaches the dispatch threshold. An identical alert (same type, run id and stage) within the
dedupe window is suppressed. A webhook that fails is recorded in the log, never raised.

Settings (environment): NAOS_ALERT_WEBHOOK (URL), NAOS_ALERT_DEDUPE_S (default 300), NAOS_ALERT_MIN_SEVERITY
(dispatch threshold: info, warning, error, critical; default warning), NAOS_SITE_ID (default the host name),
NAOS_UI_URL (default http://127.0.0.1:3000).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ALERT_TYPES = ("job_failed", "excessive_retries", "provider_unavailable", "budget_exceeded", "canon_blocked",
               "approval_requested")
SEVERITIES = ("info", "warning", "error", "critical")
DEFAULT_SEVERITY = {"job_failed": "error", "excessive_retries": "warning", "provider_unavailable": "warning",
                    "budget_exceeded": "critical", "canon_blocked": "warning", "approval_requested": "warning"}


@dataclass(frozen=True)
class Alert:
    alert_type: str
    run_id: str
    stage: str
    message: str
    severity: str = ""
    site_id: str = ""
    timestamp: str = ""
    link: str = ""
    episode_id: str = ""

    def key(self) -> tuple[str, str, str]:
        return self.alert_type, self.run_id, self.stage


@dataclass
class AlertEmitter:
    home: Path
    webhook: str | None = None
    dedupe: timedelta = timedelta(minutes=5)
    min_severity: str = "warning"
    site_id: str = field(default_factory=socket.gethostname)
    ui_url: str = "http://127.0.0.1:3000"
    timeout_s: float = 5.0

    @classmethod
    def from_env(cls, home: str | Path) -> AlertEmitter:
        return cls(Path(home), webhook=os.environ.get("NAOS_ALERT_WEBHOOK") or None,
                   dedupe=timedelta(seconds=float(os.environ.get("NAOS_ALERT_DEDUPE_S", "300"))),
                   min_severity=os.environ.get("NAOS_ALERT_MIN_SEVERITY", "warning"),
                   site_id=os.environ.get("NAOS_SITE_ID") or socket.gethostname(),
                   ui_url=os.environ.get("NAOS_UI_URL", "http://127.0.0.1:3000"))

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ValueError(f"alert threshold {self.min_severity!r} is not one of {', '.join(SEVERITIES)}")

    @property
    def log_path(self) -> Path:
        return Path(self.home) / "alerts" / "alerts.jsonl"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def history(self) -> list[dict]:
        if not self.log_path.is_file():
            return []
        return [json.loads(line) for line in self.log_path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def emit(self, alert: Alert, now: datetime | None = None) -> dict | None:
        """Log (and maybe dispatch) the alert; None when an identical one was emitted within the dedupe window."""
        if alert.alert_type not in ALERT_TYPES:
            raise ValueError(f"unknown alert type {alert.alert_type!r} (known: {', '.join(ALERT_TYPES)})")
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        alert = Alert(**{**asdict(alert), "severity": alert.severity or DEFAULT_SEVERITY[alert.alert_type],
                         "site_id": alert.site_id or self.site_id, "timestamp": moment.isoformat(timespec="seconds"),
                         "link": alert.link or f"{self.ui_url.rstrip('/')}/runs/{alert.run_id}"})
        with self._locked():
            for past in reversed(self.history()):
                if datetime.fromisoformat(past["timestamp"]) < moment - self.dedupe:
                    break
                if (past["alert_type"], past["run_id"], past["stage"]) == alert.key():
                    return None
            record = asdict(alert)
            dispatch = self.webhook and SEVERITIES.index(alert.severity) >= SEVERITIES.index(self.min_severity)
            record["delivery"] = self._post(record) if dispatch else "logged only"
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
        return record

    def _post(self, record: dict) -> str:
        body = json.dumps({k: v for k, v in record.items() if k != "delivery"}).encode()
        request = urllib.request.Request(self.webhook, data=body, headers={"Content-Type": "application/json"},
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return f"webhook {response.status}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"webhook failed: {exc}"
