"""One drift check: per feature a test's p-value and the population stability index, and a
verdict over all features under the detector's correction."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from components.base.stability import psi
from serving.drift.detectors import DETECTOR
from serving.drift.inputs import Features

PSI_BINS = 10
"""Numeric features are cut at the reference's deciles (plus a bucket for missing values)."""


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str
    """`categorical` (chi-squared) or `numeric` (KS)."""
    p_value: float
    statistic: float
    psi: float
    drifted: bool
    missing_reference: float | None
    missing_current: float | None
    """The share of rows without a value on each side, for numeric features (a missing
    categorical value is a category of its own)."""


@dataclass(frozen=True)
class DriftResult:
    is_drift: bool
    detector: str
    correction: str
    p_val: float
    threshold: float
    rows_reference: int
    rows_current: int
    excluded: list[str]
    features: list[FeatureDrift]
    """Most drifted first: by p-value, then (where p-values underflow alike) by PSI."""

    def top(self, n: int = 5) -> list[str]:
        return [f.feature for f in self.features[:n]]

    def to_dict(self) -> dict:
        return asdict(self)


def check(
    x_ref: np.ndarray,
    x: np.ndarray,
    features: Features,
    detector: str = "alibi",
    p_val: float = 0.05,
    correction: str = "bonferroni",
    excluded: list[str] | None = None,
) -> DriftResult:
    """`x_ref` and `x` as `inputs.encode` makes them, columns in `features.names` order."""
    n_cat = len(features.categorical)
    scores = DETECTOR[detector](x_ref, x, n_cat, p_val, correction)
    rows = [
        FeatureDrift(
            feature=name,
            kind="categorical" if i < n_cat else "numeric",
            p_value=float(scores.p_values[i]),
            statistic=float(scores.statistics[i]),
            psi=feature_psi(x_ref[:, i], x[:, i], categorical=i < n_cat),
            drifted=bool(scores.p_values[i] < scores.threshold),
            missing_reference=_missing_share(x_ref[:, i], i < n_cat),
            missing_current=_missing_share(x[:, i], i < n_cat),
        )
        for i, name in enumerate(features.names)
    ]
    rows.sort(key=lambda r: (r.p_value, -r.psi))
    return DriftResult(
        is_drift=scores.is_drift,
        detector=detector,
        correction=correction,
        p_val=p_val,
        threshold=scores.threshold,
        rows_reference=len(x_ref),
        rows_current=len(x),
        excluded=sorted(excluded or []),
        features=rows,
    )


def feature_psi(reference: np.ndarray, current: np.ndarray, categorical: bool) -> float:
    """PSI over categories, or over the reference's deciles with missing values (-inf)
    in a bucket of their own."""
    if categorical:
        values = np.union1d(reference, current)
        buckets = [np.searchsorted(values, side) for side in (reference, current)]
        size = len(values)
    else:
        finite = reference[np.isfinite(reference)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
        edges = np.concatenate([[-np.inf], edges]) if finite.size else np.array([-np.inf])
        # bucket 0: missing (-inf); bucket k: above edge k-1, up to edge k
        buckets = [np.searchsorted(edges, side, side="left") for side in (reference, current)]
        size = len(edges) + 1
    expected, actual = (np.bincount(b, minlength=size).astype(float) for b in buckets)
    return psi(expected, actual)


def _missing_share(column: np.ndarray, categorical: bool) -> float | None:
    return None if categorical else float(np.isneginf(column).mean())


@dataclass(frozen=True)
class ScoreDrift:
    """The model's live scores against its scores on held-out validation months: a shift
    here with inputs that hold still hints at concept drift (or a model that misbehaves)."""

    p_value: float
    """Two-sample KS, as for a numeric feature."""
    psi: float
    drifted: bool


def score_drift(reference: np.ndarray, scores: np.ndarray, p_val: float) -> ScoreDrift | None:
    """None without reference scores (an artifact from before training wrote them)."""
    if reference.size == 0 or scores.size == 0:
        return None
    from scipy.stats import ks_2samp

    p_value = float(ks_2samp(reference, scores, method="asymp").pvalue)
    return ScoreDrift(p_value, feature_psi(reference, scores, categorical=False), p_value < p_val)
