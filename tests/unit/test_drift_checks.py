"""The drift check's own pieces, in the main environment (numpy and scipy suffice; the
alibi-detect parity runs in .venv-drift, tests/integration/test_drift.py): the correction
over many features, PSI per feature, and what a change in the missing share does."""

import numpy as np
import pytest
from scipy.stats import false_discovery_control

from serving.drift.check import check, feature_psi
from serving.drift.detectors import corrected
from serving.drift.inputs import Features

P_VALUES = np.array([0.001, 0.02, 0.03, 0.5, 0.9])


def test_bonferroni_compares_each_p_value_with_alpha_over_n():
    assert corrected(P_VALUES, 0.05, "bonferroni") == (True, 0.01)
    assert corrected(P_VALUES[1:], 0.05, "bonferroni") == (False, 0.0125)


@pytest.mark.parametrize("p_values", [P_VALUES, P_VALUES[1:], np.array([0.2, 0.3]), P_VALUES / 10])
def test_fdr_rejects_what_benjamini_hochberg_rejects(p_values):
    drifted, threshold = corrected(p_values, 0.05, "fdr")
    by_scipy = set(np.flatnonzero(false_discovery_control(p_values) <= 0.05))
    assert set(np.flatnonzero(p_values < threshold)) == by_scipy
    assert drifted == bool(by_scipy)


def test_an_unknown_correction_is_named():
    with pytest.raises(ValueError, match="correction 'holm': one of bonferroni, fdr"):
        corrected(P_VALUES, 0.05, "holm")


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 10_000)
    assert feature_psi(reference, rng.normal(0, 1, 2_000), categorical=False) < 0.02
    assert feature_psi(reference, rng.normal(1, 1, 2_000), categorical=False) > 0.5
    codes = rng.integers(0, 5, 10_000).astype(float)
    assert feature_psi(codes, rng.integers(0, 5, 2_000).astype(float), categorical=True) < 0.02
    assert feature_psi(codes, np.full(2_000, 4.0), categorical=True) > 1.0


def test_values_going_missing_is_drift_though_the_rest_looks_alike():
    rng = np.random.default_rng(1)
    reference = rng.normal(20, 5, (5_000, 2))
    current = rng.normal(20, 5, (1_000, 2))
    current[:300, 0] = -np.inf  # how the inputs encode a missing number
    result = check(reference, current, Features((), ("temp", "wind_speed")), detector="scipy")
    by_name = {f.feature: f for f in result.features}
    assert result.is_drift and result.top(1) == ["temp"]
    assert by_name["temp"].missing_current == pytest.approx(0.3)
    assert by_name["temp"].psi > 0.2 and not by_name["wind_speed"].drifted
