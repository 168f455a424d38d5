"""The judge: is the canary worse than the stable version, on what it served meanwhile?

Each metric is a statistical comparison, as in Kayenta's judge, not a bare threshold: the
canary fails a metric only when it is worse by more than a minimum effect *and* the
difference is significant. A large difference that is not significant (too few requests to
tell) is inconclusive, as is too little traffic altogether (Argo Rollouts' inconclusive); a
significant but tiny difference passes, because a big sample makes every difference
significant.

- success rate: the share of answers that were not errors, by a two-proportion test
  (Fisher's exact, one-sided: is the canary's error rate higher?);
- p99 latency: the two p99 time series over the interval, by a one-sided Mann-Whitney U
  test, and the difference of their medians as the effect;
- score shift: the population stability index between the two prediction-score
  histograms as the effect, and a chi-squared test of homogeneity on their counts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum

import numpy as np
from scipy import stats

from components.base.stability import psi
from components.rollout.errors import RolloutConfigError

SUCCESS_RATE, LATENCY_P99, SCORE_PSI = "success_rate", "latency_p99", "score_psi"
METRICS = (SUCCESS_RATE, LATENCY_P99, SCORE_PSI)
"""The checks each analysis makes, by name."""


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Thresholds:
    """What counts as worse, and how sure the judge must be."""

    alpha: float = 0.05
    """Significance level of every test."""
    min_requests: int = 100
    """Canary requests an interval needs before anything is judged."""
    max_error_rate_increase: float = 0.01
    """The canary's error rate may exceed the stable's by this much (absolute)."""
    max_latency_increase: float = 0.25
    """The canary's p99 may exceed the stable's by this share…"""
    min_latency_increase_s: float = 0.005
    """…and by this many seconds, before it counts: a 0.5 → 0.7 ms p99 is +40% but nothing."""
    max_psi: float = 0.2
    """Population stability index between the score histograms (0.2: a significant shift,
    by the usual rule of thumb)."""
    min_points: int = 4
    """Points each p99 series needs: with 3 against 3, a one-sided rank test cannot get
    below p = 0.05 whatever the values."""

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise RolloutConfigError(f"alpha {self.alpha}: a significance level in (0, 1)")
        for name in (
            "max_error_rate_increase",
            "max_latency_increase",
            "min_latency_increase_s",
            "max_psi",
        ):
            if getattr(self, name) < 0:
                raise RolloutConfigError(f"{name} {getattr(self, name)}: must not be negative")
        if self.max_error_rate_increase >= 1:
            raise RolloutConfigError(
                f"max_error_rate_increase {self.max_error_rate_increase}: a share below 1"
            )
        if self.min_requests < 1 or self.min_points < 2:
            raise RolloutConfigError(
                f"min_requests {self.min_requests}, min_points {self.min_points}: at least 1 and 2"
            )


@dataclass(frozen=True)
class Sample:
    """What one version served in the interval, from Prometheus."""

    requests: int
    errors: int
    p99_seconds: tuple[float, ...]
    """The p99 latency over time (one point per query step)."""
    score_counts: tuple[float, ...]
    """Prediction scores per histogram bucket (not cumulative)."""


@dataclass(frozen=True)
class Check:
    metric: str
    outcome: Outcome
    canary: float
    stable: float
    effect: float
    p_value: float | None
    detail: str

    def to_dict(self) -> dict:
        return {**asdict(self), "outcome": str(self.outcome)}


@dataclass(frozen=True)
class Analysis:
    outcome: Outcome
    score: float
    """The share of metrics that passed."""
    checks: tuple[Check, ...] = field(default_factory=tuple)
    canary_requests: int = 0
    stable_requests: int = 0
    error: str = ""
    """Why there was nothing to judge (the metrics could not be read)."""

    @classmethod
    def unavailable(cls, error: str) -> Analysis:
        """Inconclusive: the canary keeps its share, and the deadline still applies."""
        return cls(Outcome.INCONCLUSIVE, 0.0, error=error)

    def to_dict(self) -> dict:
        return {
            "outcome": str(self.outcome),
            "score": round(self.score, 4),
            "canary_requests": self.canary_requests,
            "stable_requests": self.stable_requests,
            "checks": [c.to_dict() for c in self.checks],
            **({"error": self.error} if self.error else {}),
        }


def _verdict(worse_by_enough: bool, significant: bool) -> Outcome:
    if not worse_by_enough:
        return Outcome.PASS
    return Outcome.FAIL if significant else Outcome.INCONCLUSIVE


def success_rate(canary: Sample, stable: Sample, limits: Thresholds) -> Check:
    rates = [s.errors / s.requests if s.requests else 0.0 for s in (canary, stable)]
    effect = rates[0] - rates[1]
    table = [
        [canary.errors, canary.requests - canary.errors],
        [stable.errors, stable.requests - stable.errors],
    ]
    p = float(stats.fisher_exact(table, alternative="greater").pvalue)
    outcome = _verdict(effect > limits.max_error_rate_increase, p < limits.alpha)
    return Check(
        SUCCESS_RATE,
        outcome,
        1 - rates[0],
        1 - rates[1],
        effect,
        p,
        f"errors {canary.errors}/{canary.requests} vs {stable.errors}/{stable.requests}",
    )


def latency_p99(canary: Sample, stable: Sample, limits: Thresholds) -> Check:
    ours, theirs = (
        np.array([v for v in s.p99_seconds if math.isfinite(v)]) for s in (canary, stable)
    )
    if min(len(ours), len(theirs)) < limits.min_points:
        return Check(
            LATENCY_P99,
            Outcome.INCONCLUSIVE,
            float(np.median(ours)) if len(ours) else math.nan,
            float(np.median(theirs)) if len(theirs) else math.nan,
            math.nan,
            None,
            f"{len(ours)} and {len(theirs)} points: at least {limits.min_points} each needed",
        )
    medians = float(np.median(ours)), float(np.median(theirs))
    effect = medians[0] - medians[1]
    p = float(stats.mannwhitneyu(ours, theirs, alternative="greater").pvalue)
    bound = max(limits.max_latency_increase * medians[1], limits.min_latency_increase_s)
    return Check(
        LATENCY_P99,
        _verdict(effect > bound, p < limits.alpha),
        medians[0],
        medians[1],
        effect,
        p,
        f"median p99 {medians[0] * 1e3:.1f} ms vs {medians[1] * 1e3:.1f} ms "
        f"(allowed +{bound * 1e3:.1f} ms)",
    )


def pooled(table: np.ndarray, least: float = 5.0) -> np.ndarray:
    """Adjacent buckets merged until every cell's expected count is at least `least`, as
    the chi-squared approximation needs: a handful of scores then has too few buckets left
    to be significant, rather than a spurious tiny p-value."""
    rows = table.sum(axis=1, keepdims=True) / table.sum()
    columns, current = [], np.zeros(table.shape[0])
    for column in table.T:
        current = current + column
        if (rows[:, 0] * current.sum() >= least).all():
            columns.append(current)
            current = np.zeros(table.shape[0])
    if current.sum() > 0:
        if columns:
            columns[-1] = columns[-1] + current
        else:
            columns.append(current)
    return np.array(columns).T


def score_shift(canary: Sample, stable: Sample, limits: Thresholds) -> Check:
    ours, theirs = (np.asarray(s.score_counts, dtype=float) for s in (canary, stable))
    if ours.sum() <= 0 or theirs.sum() <= 0:
        return Check(SCORE_PSI, Outcome.INCONCLUSIVE, 0, 0, math.nan, None, "no scores observed")
    index = psi(theirs, ours)
    table = pooled(np.vstack([ours, theirs]))
    p = 1.0 if table.shape[1] < 2 else float(stats.chi2_contingency(table).pvalue)
    return Check(
        SCORE_PSI,
        _verdict(index > limits.max_psi, p < limits.alpha),
        index,
        0.0,
        index,
        p,
        f"PSI {index:.3f} (allowed {limits.max_psi}) over {int(ours.sum())} canary scores",
    )


JUDGES = (success_rate, latency_p99, score_shift)


def analyse(canary: Sample, stable: Sample, limits: Thresholds) -> Analysis:
    """Every metric's check. Too few canary requests is inconclusive whatever the checks
    say (they are recorded all the same); otherwise the step fails if any metric fails, is
    inconclusive if any could not tell, and passes."""
    checks = tuple(judge(canary, stable, limits) for judge in JUDGES)
    score = sum(c.outcome is Outcome.PASS for c in checks) / len(checks)
    outcomes = {c.outcome for c in checks}
    if canary.requests < limits.min_requests:
        outcome = Outcome.INCONCLUSIVE
    elif Outcome.FAIL in outcomes:
        outcome = Outcome.FAIL
    elif Outcome.INCONCLUSIVE in outcomes:
        outcome = Outcome.INCONCLUSIVE
    else:
        outcome = Outcome.PASS
    return Analysis(outcome, score, checks, canary.requests, stable.requests)
