"""The GPU check's inference timing, on CPU: the same code times CUDA on a GPU machine."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np

from components.train.gpu_check import inference_timings
from components.train.model import FlightDelayNet

SHAPE = {"embedding_dim": 4, "hidden": (8,), "dropout": 0.0}
WARM_UP_S, CALL_S = 0.040, 0.004


class KnownCostNet(FlightDelayNet):
    """A forward pass of known cost: slow for the first two calls of each batch size (as
    kernels and caches warm up), then `CALL_S`."""

    def __init__(self):
        super().__init__(
            vocab_sizes=[5, 3], means=[0.0, 1.0], stds=[1.0, 2.0], edges=[[], []], **SHAPE
        )
        self.calls: Counter = Counter()

    def forward(self, categorical, numeric):
        self.calls[len(numeric)] += 1
        time.sleep(WARM_UP_S if self.calls[len(numeric)] <= 2 else CALL_S)
        return super().forward(categorical, numeric)


def test_inference_timings_time_each_batch_size_past_its_warm_up():
    rng = np.random.default_rng(0)
    net = KnownCostNet()
    categorical = rng.integers(-1, 6, size=(40, 2))
    numeric = rng.normal(size=(40, 2)).astype(np.float32)
    numeric[0, 1] = np.nan

    rows = inference_timings(net, categorical, numeric, "cpu", batch_sizes=(1, 16), repeats=3)

    assert [r["rows"] for r in rows] == [1, 16, 40]  # each size, then all rows in one call
    assert net.calls == {1: 5, 16: 5, 40: 5}  # two warm-ups, then the timed calls
    for r in rows:
        assert r["device"] == "cpu"
        assert CALL_S * 1e3 <= r["median_ms"] < WARM_UP_S * 1e3  # warm-ups left out
        assert r["rows"] / WARM_UP_S < r["rows_per_second"] <= r["rows"] / CALL_S
