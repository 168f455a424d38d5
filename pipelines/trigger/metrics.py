"""The trigger's Prometheus metrics, in a registry of its own per service."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter

TRIGGERED = "sluice_retrain_triggered_total"
"""The chart's SluiceRetrainTriggered alert sums its increase by namespace (a label the scrape
adds), so its own labels are free: `source`, drift or alertmanager."""


@dataclass
class TriggerMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.triggered = Counter(
            TRIGGERED.removesuffix("_total"),
            "Retraining runs the trigger started, by what asked for them.",
            ["source"],
            registry=self.registry,
        )
        self.refused = Counter(
            "sluice_retrain_refused",
            "Requests that started no run, by reason: cooldown, rate-limited, ignored, "
            "failed (the run could not be started) or bad-request.",
            ["reason"],
            registry=self.registry,
        )
