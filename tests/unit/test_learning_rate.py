"""The training loop's one-cycle learning rate: warm-up, then a cosine decay to zero."""

import math

import pytest

from components.train.loop import WARMUP, learning_rate

PEAK, TOTAL = 4e-3, 1000


def test_the_rate_rises_linearly_to_its_peak_over_the_warm_up():
    rise = round(TOTAL * WARMUP)
    rates = [learning_rate(PEAK, step, TOTAL) for step in range(rise)]
    assert rates[0] == pytest.approx(PEAK / rise)
    assert rates[rise // 2 - 1] == pytest.approx(PEAK / 2)
    assert rates[-1] == pytest.approx(PEAK)


def test_the_rate_then_falls_as_a_cosine_to_zero_at_the_last_step():
    rise = round(TOTAL * WARMUP)
    rates = [learning_rate(PEAK, step, TOTAL) for step in range(rise, TOTAL + 1)]
    assert rates[0] == pytest.approx(PEAK)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    middle = rise + (TOTAL - rise) // 2
    assert learning_rate(PEAK, middle, TOTAL) == pytest.approx(PEAK / 2, rel=1e-2)
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)
    assert math.isclose(learning_rate(PEAK, TOTAL * 2, TOTAL), 0.0, abs_tol=1e-12)
