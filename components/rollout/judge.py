"""The analysis as the rollout runs it: both versions' samples from Prometheus, judged."""

from __future__ import annotations

from components.rollout.analysis import Analysis, analyse
from components.rollout.config import RolloutConfig
from components.rollout.prometheus import Prometheus, Target


class PrometheusAnalyst:
    def __init__(self, prometheus: Prometheus, config: RolloutConfig):
        self.prometheus, self.config = prometheus, config
        self.target = Target(config.namespace, config.name)

    def analyse(self, version: str, start: float, end: float) -> Analysis:
        config = self.config
        canary, stable = (
            self.prometheus.sample(
                self.target, version, side, start, end, config.query_step_s, config.rate_window_s
            )
            for side in (True, False)
        )
        return analyse(canary, stable, config.limits)
