"""When a drift report may start a run: the cooldown (one drift episode, however often it
is reported and from wherever, starts one run) and the rate limit (runs per day). Both are
read from the audit log, so a restart keeps them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipelines.submit import KfpError
from pipelines.trigger.audit import AuditLog, Entry
from pipelines.trigger.metrics import TriggerMetrics
from pipelines.trigger.starters import Starter

DAY = timedelta(days=1)
log = logging.getLogger("sluice.trigger")


@dataclass(frozen=True)
class Limits:
    cooldown: timedelta = timedelta(hours=6)
    """After a run starts, no other starts for this long: a drift episode is reported again
    and again (Alertmanager repeats the firing alert; a drift service restarted mid-episode
    calls again)."""
    max_runs_per_day: int = 4
    """Runs started in any trailing 24 hours, whatever the cooldown."""


class Trigger:
    """Decides, starts, and records; one decision at a time, so two reports arriving together
    cannot both start a run."""

    def __init__(
        self,
        audit: AuditLog,
        start: Starter,
        metrics: TriggerMetrics,
        limits: Limits = Limits(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.audit, self._start, self.metrics = audit, start, metrics
        self.limits, self._clock = limits, clock
        self._lock = threading.Lock()

    def request(self, source: str, key: str, model_version: str, reason: str) -> Entry:
        """A drift report: starts a run unless the cooldown or the rate limit holds it back."""
        with self._lock:
            now = self._clock()
            started = self.audit.started_since(now - max(DAY, self.limits.cooldown))
            entry = Entry(now, source, key, model_version, "started", detail=reason)
            if started and now - started[-1] < self.limits.cooldown:
                until = started[-1] + self.limits.cooldown
                return self._refused(entry, "cooldown", f"cooldown until {until.isoformat()}")
            if sum(t > now - DAY for t in started) >= self.limits.max_runs_per_day:
                limit = f"{self.limits.max_runs_per_day} runs in 24 h"
                return self._refused(entry, "rate-limited", f"rate limit: {limit}")
            try:
                run_id = self._start(now, reason)
            except (KfpError, OSError) as exc:
                return self._refused(entry, "failed", str(exc))
            entry = Entry(now, source, key, model_version, "started", run_id, reason)
            self.audit.add(entry)
            self.metrics.triggered.labels(source=source).inc()
            log.info(entry.json_line())
            return entry

    def ignore(self, source: str, key: str, model_version: str, why: str) -> Entry:
        """A report that is recorded but starts nothing (a resolved alert, another alert)."""
        now = self._clock()
        return self._refused(Entry(now, source, key, model_version, "ignored"), "ignored", why)

    def _refused(self, entry: Entry, decision: str, detail: str) -> Entry:
        entry = Entry(
            entry.time, entry.source, entry.key, entry.model_version, decision, None, detail
        )
        self.audit.add(entry)
        self.metrics.refused.labels(reason=decision).inc()
        log.info(entry.json_line())
        return entry
