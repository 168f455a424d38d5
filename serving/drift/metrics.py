"""The drift service's Prometheus metrics, in a registry of its own per service. The chart's
`SluiceDriftDetected` alert reads `sluice_drift_detected`; the dashboard the p-values and PSI.
The scrape adds `namespace`; `model_version` tells stable from canary."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class DriftMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.events = Counter(
            "sluice_drift_events", "Logger events taken, by CloudEvent type.", ["type"], registry=r
        )
        self.ignored = Counter(
            "sluice_drift_ignored_events",
            "Events about no inference (a call without a body, an answer without scores: "
            "metadata and health routes), taken and left alone, by reason.",
            ["reason"],
            registry=r,
        )
        self.malformed = Counter(
            "sluice_drift_malformed_events",
            "Events refused with a 400, by reason.",
            ["reason"],
            registry=r,
        )
        self.unanswered = Counter(
            "sluice_drift_unanswered_requests",
            "Logged requests dropped without a response within the join timeout (the model "
            "refused them, or the response was lost).",
            registry=r,
        )
        self.unmatched = Counter(
            "sluice_drift_unmatched_responses",
            "Logged responses dropped without their request within the join timeout.",
            registry=r,
        )
        self.rows = Counter(
            "sluice_drift_rows",
            "Joined feature rows, by model version.",
            ["model_version"],
            registry=r,
        )
        self.window = Gauge(
            "sluice_drift_window_rows",
            "Rows in the version's window.",
            ["model_version"],
            registry=r,
        )
        self.checks = Counter(
            "sluice_drift_checks",
            "Window checks by outcome: checked, busy (the last one still ran; the window "
            "slid on), no_reference, failed.",
            ["model_version", "outcome"],
            registry=r,
        )
        self.check_seconds = Histogram(
            "sluice_drift_check_seconds",
            "One window check.",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.last_check = Gauge(
            "sluice_drift_last_check_timestamp_seconds",
            "When the version's window was last checked (Unix time).",
            ["model_version"],
            registry=r,
        )
        self.detected = Gauge(
            "sluice_drift_detected",
            "1 when the version's last check found drift over all features (corrected).",
            ["model_version"],
            registry=r,
        )
        self.p_value = Gauge(
            "sluice_drift_p_value",
            "Per-feature p-value of the last check.",
            ["model_version", "feature"],
            registry=r,
        )
        self.psi = Gauge(
            "sluice_drift_psi",
            "Per-feature population stability index of the last check.",
            ["model_version", "feature"],
            registry=r,
        )
        self.feature_drifted = Gauge(
            "sluice_drift_feature_drifted",
            "1 when the feature's p-value is below the corrected threshold.",
            ["model_version", "feature"],
            registry=r,
        )
        self.score_p_value = Gauge(
            "sluice_drift_score_p_value",
            "KS p-value of the live scores against the held-out validation scores.",
            ["model_version"],
            registry=r,
        )
        self.score_psi = Gauge(
            "sluice_drift_score_psi",
            "PSI of the live scores against the held-out validation scores.",
            ["model_version"],
            registry=r,
        )
        self.trigger_calls = Counter(
            "sluice_drift_trigger_calls",
            "Calls to the retrain trigger, by its decision (or failed).",
            ["decision"],
            registry=r,
        )

    def forget(self, version: str, features: set[str]) -> None:
        """A retired version's gauges, so that its last verdict stops speaking for it."""
        for gauge in (
            self.window,
            self.last_check,
            self.detected,
            self.score_p_value,
            self.score_psi,
        ):
            _remove(gauge, version)
        for feature in features:
            for gauge in (self.p_value, self.psi, self.feature_drifted):
                _remove(gauge, version, feature)


def _remove(gauge: Gauge, *labels: str) -> None:
    try:
        gauge.remove(*labels)
    except KeyError:  # never set for this version
        pass
