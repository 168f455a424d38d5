"""The online drift check: logged events in, joined into per-version windows, each full
window checked against that version's reference, the verdicts exported, and the retrain
trigger called once per drift episode.

Ingestion never waits for a check: checks run one at a time on a worker thread, and a
window that comes due while its last check still runs slides on (counted as `busy`). A
check that fails is counted and logged; the service goes on."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from components.base.contract.names import version_directory
from components.flights.request import CALENDAR_FEATURES
from serving.drift.check import DriftResult, ScoreDrift, check, score_drift
from serving.drift.events import EventError, Ignored, LoggedRequest, parse
from serving.drift.inputs import Features, encode
from serving.drift.joiner import Joined, Joiner
from serving.drift.metrics import DriftMetrics
from serving.drift.references import Reference, References, ReferenceUnavailable
from serving.drift.report import render
from serving.drift.trigger_client import TriggerClient
from serving.drift.windows import Window

log = logging.getLogger("sluice.drift")
SWEEP_EVERY_S = 1.0
"""How often the service sweeps the join table and retires idle versions."""


@dataclass(frozen=True)
class MonitorConfig:
    window: int = 1000
    every: int = 500
    """Check a full window each time this many new rows have come in."""
    detector: str = "alibi"
    p_val: float = 0.05
    correction: str = "bonferroni"
    exclude: tuple[str, ...] = CALENDAR_FEATURES
    """Features left out of the tests: the calendar ones change by construction."""
    join_timeout_s: float = 30.0
    idle_s: float = 3600.0
    """A version that logs no rows for this long while another version of its model does is
    retired: its window, verdict and gauges go, so that a replaced version's last verdict
    does not keep an alert firing."""


@dataclass(frozen=True)
class Verdict:
    """A version's last check, as `/v1/status` shows it."""

    model_name: str
    model_version: str
    checked_at: float
    result: DriftResult
    score: ScoreDrift | None
    reference: str

    def to_dict(self) -> dict:
        return {
            "model_name": self.model_name,
            "model_version": self.model_version,
            "checked_at": self.checked_at,
            "reference": self.reference,
            "is_drift": self.result.is_drift,
            "top": self.result.top(),
            "score": None if self.score is None else asdict(self.score),
            "result": self.result.to_dict(),
        }


class DriftMonitor:
    def __init__(
        self,
        references: References,
        config: MonitorConfig,
        metrics: DriftMetrics | None = None,
        trigger: TriggerClient | None = None,
        reports_dir: Path | None = None,
        clock=time.monotonic,
    ):
        self.references = references
        self.config = config
        self.metrics = metrics or DriftMetrics()
        self.trigger = trigger
        self.reports_dir = reports_dir
        self.clock = clock
        self.joiner = Joiner(config.join_timeout_s, clock=clock)
        self.windows: dict[tuple[str, str], Window] = {}
        self.verdicts: dict[tuple[str, str], Verdict] = {}
        self._seen: dict[tuple[str, str], float] = {}
        self._exported: dict[tuple[str, str], set[str]] = {}
        """The features each version has per-feature gauges for, to remove them all."""
        self._drifting: set[tuple[str, str]] = set()
        self._checking: set[tuple[str, str]] = set()
        self._checks = ThreadPoolExecutor(1, thread_name_prefix="drift-check")
        self._lock = threading.Lock()
        """Held to retire a version and to publish a check's verdict, so neither undoes
        the other; ingestion itself runs on the event loop alone and takes no lock."""

    def ingest(self, headers: Mapping[str, str], body: bytes) -> None:
        """One logger event; an `EventError` (counted) for one the service cannot take."""
        try:
            event = parse(headers, body)
        except EventError as exc:
            self.metrics.malformed.labels(reason=exc.reason).inc()
            raise
        if isinstance(event, Ignored):
            self.metrics.ignored.labels(reason=event.reason).inc()
            return
        kind = "request" if isinstance(event, LoggedRequest) else "response"
        self.metrics.events.labels(type=kind).inc()
        try:
            joined = self.joiner.add(event)
        except EventError as exc:
            self.metrics.malformed.labels(reason=exc.reason).inc()
            raise
        if joined is not None:
            self._take(joined)

    def sweep(self) -> None:
        """Every `SWEEP_EVERY_S`, from the event loop: requests that waited too long for
        their response (and the other way round), and versions that went quiet."""
        expired = self.joiner.expire()
        self.metrics.unanswered.inc(expired.requests)
        self.metrics.unmatched.inc(expired.responses)
        quiet_since = self.clock() - self.config.idle_s
        for key, seen in list(self._seen.items()):
            if seen < quiet_since and key not in self._checking and self._replaced(key, seen):
                self._retire(key)

    def _replaced(self, key: tuple[str, str], seen: float) -> bool:
        """Another version of the same model has logged rows since this one went quiet: a
        rollout moved on. A model that is only quiet (a night without traffic) keeps its
        window, verdict and episode."""
        return any(
            other[0] == key[0] and other != key and last > seen
            for other, last in self._seen.items()
        )

    def close(self) -> None:
        self._checks.shutdown(wait=True)

    def _retire(self, key: tuple[str, str]) -> None:
        with self._lock:
            self.verdicts.pop(key, None)
            self.windows.pop(key, None)
            self._seen.pop(key, None)
            self._drifting.discard(key)
            self.metrics.forget(key[1], self._exported.pop(key, set()))
        log.info("%s version %s: no rows for %.0f s, retired", *key, self.config.idle_s)

    def _take(self, joined: Joined) -> None:
        key = (joined.model_name, joined.model_version)
        self._seen[key] = self.clock()
        window = self.windows.get(key)
        if window is None:
            window = self.windows[key] = Window(self.config.window, self.config.every)
        window.add(joined.columns, joined.scores)
        version = joined.model_version
        self.metrics.rows.labels(model_version=version).inc(joined.rows)
        self.metrics.window.labels(model_version=version).set(len(window))
        if not window.due():
            return
        if key in self._checking:
            self.metrics.checks.labels(model_version=version, outcome="busy").inc()
            window.skip()  # slide on: the next check comes `every` rows later
            return
        frame, scores = window.take()
        self._checking.add(key)
        self._checks.submit(self._check, key, frame, scores)

    def _check(self, key: tuple[str, str], frame: pd.DataFrame, scores: list[float]) -> None:
        """On the check thread. Whatever goes wrong is counted and logged, never raised:
        nobody reads this future."""
        version, outcome = key[1], "failed"
        started = time.perf_counter()
        try:
            reference = self.references.get(*key)
            result, score = self._compare(reference, frame, np.asarray(scores, dtype=float))
            verdict = Verdict(*key, time.time(), result, score, reference.source)
            with self._lock:  # sweep never retires a version under check
                self.verdicts[key] = verdict
                self._export(verdict)
            self.metrics.check_seconds.observe(time.perf_counter() - started)
            outcome = "checked"
            if result.is_drift and key not in self._drifting:
                self._episode(verdict, reference.sample, frame)
            elif not result.is_drift and key in self._drifting:
                self._drifting.discard(key)
                log.info("%s version %s: drift over, inputs back in line", *key)
        except ReferenceUnavailable as exc:
            outcome = "no_reference"
            log.warning("no drift check for %s version %s: %s", *key, exc)
        except Exception:
            log.exception("the drift check of %s version %s failed", *key)
        finally:
            self.metrics.checks.labels(model_version=version, outcome=outcome).inc()
            self._checking.discard(key)

    def _compare(
        self, reference: Reference, frame: pd.DataFrame, scores: np.ndarray
    ) -> tuple[DriftResult, ScoreDrift | None]:
        """The features both sides have, less the excluded ones (the calendar, by default).
        A logged value that is not a number where the model takes one counts as missing
        (the model refused such a call, so only a hand-made event carries one)."""
        logged = set(frame.columns)
        features = reference.features.without(self.config.exclude)
        features = Features(
            tuple(f for f in features.categorical if f in logged),
            tuple(f for f in features.numeric if f in logged),
        )
        frame = frame.assign(
            **{f: pd.to_numeric(frame[f], errors="coerce") for f in features.numeric}
        )
        x_ref, x = encode(reference.sample, frame, features, (reference.source, "window"))
        excluded = [f for f in self.config.exclude if f in reference.features.names]
        result = check(
            x_ref,
            x,
            features,
            self.config.detector,
            self.config.p_val,
            self.config.correction,
            excluded,
        )
        return result, score_drift(reference.scores, scores, self.config.p_val)

    def _export(self, verdict: Verdict) -> None:
        m, version = self.metrics, verdict.model_version
        key = (verdict.model_name, version)
        self._exported.setdefault(key, set()).update(f.feature for f in verdict.result.features)
        m.last_check.labels(model_version=version).set(verdict.checked_at)
        m.detected.labels(model_version=version).set(int(verdict.result.is_drift))
        for f in verdict.result.features:
            m.p_value.labels(model_version=version, feature=f.feature).set(f.p_value)
            m.psi.labels(model_version=version, feature=f.feature).set(f.psi)
            m.feature_drifted.labels(model_version=version, feature=f.feature).set(int(f.drifted))
        if verdict.score is not None:
            m.score_p_value.labels(model_version=version).set(verdict.score.p_value)
            m.score_psi.labels(model_version=version).set(verdict.score.psi)

    def _episode(self, verdict: Verdict, reference: pd.DataFrame, frame: pd.DataFrame) -> None:
        """A new drift episode: its report, and one call to the trigger (whose own cooldown
        holds back episodes that follow each other closely). A call that fails leaves the
        episode unopened, so the next drifted check calls again."""
        key = (verdict.model_name, verdict.model_version)
        top = [f.feature for f in verdict.result.features if f.drifted][:8]
        log.warning("%s version %s: DRIFT in %s", *key, ", ".join(top))
        if self.reports_dir is not None:
            self._write_report(verdict, reference, frame)
        decision = "untriggered"
        if self.trigger is not None:
            reason = (
                f"{verdict.result.rows_current} logged rows against the reference "
                f"({verdict.reference}); {self.config.detector}, {self.config.correction}"
            )
            decision = self.trigger.drift(verdict.model_version, top, reason)
            self.metrics.trigger_calls.labels(decision=decision).inc()
        if decision != "failed":
            self._drifting.add(key)

    def _write_report(self, verdict: Verdict, reference: pd.DataFrame, frame: pd.DataFrame):
        try:
            out = self.reports_dir / version_directory(verdict.model_name, verdict.model_version)
            out.mkdir(parents=True, exist_ok=True)
            (out / "drift.json").write_bytes(
                orjson.dumps(verdict.to_dict(), option=orjson.OPT_INDENT_2)
            )
            (out / "drift.html").write_text(render(verdict.result, reference, frame))
        except Exception:
            log.exception("the drift report of version %s was not written", verdict.model_version)
