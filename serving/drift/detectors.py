"""Two detectors, one set of tests: a chi-squared test of homogeneity per categorical
feature, a two-sided two-sample KS test (asymptotic) per numeric one, and a correction for
testing many features at once. `alibi` is alibi-detect's `TabularDrift`; `scipy` makes the
same calls to scipy directly, for users who cannot accept alibi-detect's licence, and a
test holds its p-values to alibi-detect's within 1e-6."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CORRECTIONS = ("bonferroni", "fdr")
LICENCE_NOTE = (
    "note: alibi-detect is under the Business Source License 1.1 since 0.11.5 (0.11.4 was "
    "the last Apache-2.0 release); production use needs a licence from Seldon. "
    "--detector scipy runs the same tests without it."
)


@dataclass(frozen=True)
class Scores:
    p_values: np.ndarray
    """Per feature, in the matrix's column order."""
    statistics: np.ndarray
    """Chi-squared statistic (categorical) or KS distance (numeric), per feature."""
    is_drift: bool
    threshold: float
    """A feature whose p-value is below this drifted (0 when, under FDR, none did)."""


def alibi(x_ref: np.ndarray, x: np.ndarray, categorical: int, p_val: float, correction: str):
    """alibi-detect's `TabularDrift`; the first `categorical` columns are categorical."""
    # alibi-detect imports transformers (for text embeddings), which advises at import
    # that no deep learning framework is installed: noise for a tabular check.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from alibi_detect.cd import TabularDrift

    detector = TabularDrift(
        x_ref,
        p_val=p_val,
        categories_per_feature={i: None for i in range(categorical)},
        correction=correction,
    )
    data = detector.predict(x, drift_type="batch", return_p_val=True, return_distance=True)
    data = data["data"]
    return Scores(
        np.asarray(data["p_val"], dtype=float),
        np.asarray(data["distance"], dtype=float),
        bool(data["is_drift"]),
        _scalar(data["threshold"]),
    )


def scipy(x_ref: np.ndarray, x: np.ndarray, categorical: int, p_val: float, correction: str):
    """The same tests as `TabularDrift.feature_score` and the same correction as its
    `predict`, with scipy alone."""
    from scipy.stats import chi2_contingency, ks_2samp

    p_values, statistics = np.zeros(x_ref.shape[1]), np.zeros(x_ref.shape[1])
    for f in range(x_ref.shape[1]):
        if f < categorical:
            values = np.union1d(x_ref[:, f], x[:, f])
            table = np.vstack([_counts(x_ref[:, f], values), _counts(x[:, f], values)])
            statistics[f], p_values[f], _, _ = chi2_contingency(table)
        else:
            result = ks_2samp(x_ref[:, f], x[:, f], alternative="two-sided", method="asymp")
            statistics[f], p_values[f] = result.statistic, result.pvalue
    drifted, threshold = corrected(p_values, p_val, correction)
    return Scores(p_values, statistics, drifted, threshold)


def corrected(p_values: np.ndarray, p_val: float, correction: str) -> tuple[bool, float]:
    """Drift or not over all features: Bonferroni compares each p-value with p_val / n;
    FDR (Benjamini-Hochberg, as alibi-detect's `fdr`) finds the largest rank i whose
    sorted p-value is below p_val * i / n."""
    n = len(p_values)
    if correction == "bonferroni":
        threshold = p_val / n
        return bool((p_values < threshold).any()), threshold
    if correction == "fdr":
        cutoffs = p_val * np.arange(1, n + 1) / n
        below = np.sort(p_values) < cutoffs
        if not below.any():
            return False, 0.0
        return True, float(cutoffs[np.where(below)[0].max()])
    raise ValueError(f"correction {correction!r}: one of {', '.join(CORRECTIONS)}")


def warm_up(detector: str) -> None:
    """One tiny check at start-up: the detector's imports (seconds for alibi-detect) are
    paid before the first window, and a broken environment fails the start, not a check."""
    rng = np.random.default_rng(0)
    x_ref, x = rng.integers(0, 2, (50, 2)).astype(float), rng.integers(0, 2, (50, 2)).astype(float)
    DETECTOR[detector](x_ref, x, 1, 0.05, "bonferroni")


def _scalar(threshold) -> float:
    """alibi-detect's FDR threshold is every rank's cutoff when nothing drifted: then no
    p-value is below the threshold, 0."""
    return float(threshold) if np.ndim(threshold) == 0 else 0.0


def _counts(column: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.array([(column == v).sum() for v in values])


DETECTOR: dict[str, Callable[..., Scores]] = {"alibi": alibi, "scipy": scipy}
DETECTORS = tuple(DETECTOR)
