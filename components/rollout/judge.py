"""The analysis as the rollout runs it: both versions' samples from Prometheus, judged."""

from __future__ import annotations

from components.base.services import ServiceUnavailable
from components.rollout.analysis import Analysis, analyse
from components.rollout.config import RolloutConfig
from components.rollout.prometheus import Prometheus, PrometheusError, Target


class PrometheusAnalyst:
    def __init__(self, prometheus: Prometheus, config: RolloutConfig):
        self.prometheus, self.config = prometheus, config
        self.target = Target(config.namespace, config.name)

    def analyse(self, version: str, start: float, end: float) -> Analysis:
        """A Prometheus that cannot answer makes the analysis inconclusive, not the rollout
        stop: the canary must not be left at its share unwatched."""
        config = self.config
        try:
            canary, stable = (
                self.prometheus.sample(
                    self.target,
                    version,
                    side,
                    start,
                    end,
                    config.query_step_s,
                    config.rate_window_s,
                )
                for side in (True, False)
            )
        except (ServiceUnavailable, PrometheusError) as exc:
            return Analysis.unavailable(str(exc))
        return analyse(canary, stable, config.limits)
