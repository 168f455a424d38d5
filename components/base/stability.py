"""The population stability index, one definition for the rollout's score-shift check and
for drift detection (by rule of thumb, 0.1 is a shift worth a look and 0.25 a large one)."""

from __future__ import annotations

import numpy as np


def psi(expected: np.ndarray, actual: np.ndarray, floor: float = 1e-4) -> float:
    """Population stability index of `actual` against `expected` (counts per bucket). An
    empty bucket counts as `floor`, so a bucket only one side has is large, not infinite."""
    e = np.maximum(expected / expected.sum(), floor)
    a = np.maximum(actual / actual.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))
