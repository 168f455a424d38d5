"""The GPU check's inference timing, on CPU: the same code times CUDA on a GPU machine."""

from __future__ import annotations

import numpy as np

from components.train.gpu_check import inference_timings
from components.train.model import FlightDelayNet


def test_inference_timings_cover_each_batch_size_and_all_rows():
    rng = np.random.default_rng(0)
    net = FlightDelayNet(vocab_sizes=[5, 3], means=[0.0, 1.0], stds=[1.0, 2.0], hidden=(8,))
    categorical = rng.integers(-1, 6, size=(40, 2))
    numeric = rng.normal(size=(40, 2)).astype(np.float32)
    numeric[0, 1] = np.nan

    rows = inference_timings(net, categorical, numeric, "cpu", batch_sizes=(1, 16), repeats=3)

    assert [r["rows"] for r in rows] == [1, 16, 40]
    for r in rows:
        assert r["device"] == "cpu"
        assert r["median_ms"] > 0
        assert np.isclose(r["rows_per_second"], r["rows"] / (r["median_ms"] / 1e3))
