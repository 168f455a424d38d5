"""A rollout's parameters: where, in which steps, how often it judges, and how patient it is."""

from __future__ import annotations

from dataclasses import dataclass, field

from components.rollout.analysis import Thresholds
from components.rollout.errors import RolloutConfigError

DEFAULT_STEPS = (10, 25, 50, 100)


@dataclass(frozen=True)
class RolloutConfig:
    name: str = "sluice-flights"
    namespace: str = "sluice"
    steps: tuple[int, ...] = DEFAULT_STEPS
    """Canary traffic shares, rising, ending at 100: each share below 100 is analysed for an
    interval; reaching 100 is the promotion."""
    interval_s: float = 300.0
    """How long each step runs before it is analysed (Flagger's `interval`)."""
    threshold: int = 2
    """Failed analyses before the rollback (Flagger's `threshold`)."""
    deadline_s: float = 3600.0
    """From the start: an analysis still inconclusive after this fails the rollout."""
    limits: Thresholds = field(default_factory=Thresholds)
    query_step_s: float = 60.0
    """Resolution of the p99 series Prometheus is asked for (`query_range` step): as long as
    the rate window, so that the points do not overlap (overlapping points are correlated
    and make the rank test overconfident)."""
    rate_window_s: float = 60.0
    """The `rate()` window behind each p99 point: at least two scrape intervals."""
    poll_s: float = 2.0
    """How often the InferenceService is read while waiting."""
    ready_timeout_s: float = 600.0
    """How long a new revision may take to become ready before the rollout gives up on it."""
    lease_s: float = 60.0
    """A rollout whose holder has not renewed its lease for this long is taken over."""

    def __post_init__(self) -> None:
        steps = self.steps
        if not steps or any(not 0 < s <= 100 for s in steps):
            raise RolloutConfigError(f"steps {steps}: each a percentage in 1..100")
        if list(steps) != sorted(set(steps)) or steps[-1] != 100:
            raise RolloutConfigError(f"steps {steps}: strictly rising and ending at 100")
        for name in (
            "interval_s",
            "deadline_s",
            "query_step_s",
            "rate_window_s",
            "poll_s",
            "ready_timeout_s",
        ):
            if getattr(self, name) <= 0:
                raise RolloutConfigError(f"{name} {getattr(self, name)}: must be positive")
        if self.threshold < 1:
            raise RolloutConfigError(f"threshold {self.threshold}: at least 1 failed check")
        if self.interval_s / self.query_step_s < self.limits.min_points:
            raise RolloutConfigError(
                f"interval_s {self.interval_s} / query_step_s {self.query_step_s}: at least "
                f"{self.limits.min_points} p99 points per analysis"
            )
        if self.lease_s < 3 * self.poll_s:
            raise RolloutConfigError(
                f"lease_s {self.lease_s}: at least three polls ({3 * self.poll_s} s), or a "
                "live rollout would look dead"
            )

    @property
    def analysed_steps(self) -> tuple[int, ...]:
        return self.steps[:-1]

    @property
    def rollback_bound_s(self) -> float:
        """How long a canary that fails every analysis can serve: `threshold` intervals,
        plus one for the first step's traffic to settle and be judged."""
        return self.interval_s * self.threshold + self.interval_s

    @property
    def promotion_bound_s(self) -> float:
        """A canary that passes every analysis is promoted within one interval per step: one
        per analysed share, and the last for the revisions to settle and the promotion."""
        return self.interval_s * len(self.steps)
