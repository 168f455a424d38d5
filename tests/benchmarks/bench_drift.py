"""Batch drift timing: one check of a 1,000-row window against a 10,000-row reference over
all the model's features (the issue's goal: at most 200 ms, median of 20 runs), beside a
plain scipy loop over the same, already encoded, data.

`main` runs in the main environment and reports; the timing itself runs in the drift
environment (`python -m tests.benchmarks.bench_drift FRAME MODEL`), where alibi-detect is."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REFERENCE_ROWS, WINDOW_ROWS, RUNS = 10_000, 1_000, 20
GOAL_MS = 200.0


def _median_ms(work) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(frame_path: Path, model_dir: Path) -> list[dict]:
    """In the drift environment: the check as `sluice drift` makes it (encode, tests,
    correction, PSI; no report), each detector, and the bare scipy tests."""
    import numpy as np
    import pandas as pd
    from scipy.stats import chi2_contingency, ks_2samp

    from components.base.contract.metadata import ModelMetadata
    from serving.drift.check import check
    from serving.drift.inputs import Features, encode

    features = Features.from_metadata(ModelMetadata.read(model_dir))
    frame = pd.read_parquet(frame_path, columns=list(features.names))
    rng = np.random.default_rng(0)
    ref = frame.iloc[rng.choice(len(frame), REFERENCE_ROWS, replace=len(frame) < REFERENCE_ROWS)]
    cur = frame.iloc[rng.choice(len(frame), WINDOW_ROWS, replace=False)]
    sources = ("reference", "window")

    def run_check(detector: str):
        return lambda: check(*encode(ref, cur, features, sources), features, detector)

    run_check("alibi")()  # imports alibi-detect (and transformers) once, outside the timing
    x_ref, x = encode(ref, cur, features, sources)
    n_cat = len(features.categorical)

    def plain_scipy():
        for f in range(x_ref.shape[1]):
            if f < n_cat:
                values = np.union1d(x_ref[:, f], x[:, f])
                table = [[(side[:, f] == v).sum() for v in values] for side in (x_ref, x)]
                chi2_contingency(table)
            else:
                ks_2samp(x_ref[:, f], x[:, f], method="asymp")

    shape = {"features": len(features.names), "reference": REFERENCE_ROWS, "window": WINDOW_ROWS}
    return [
        {
            "what": "sluice drift check, alibi-detect",
            **shape,
            "median_ms": _median_ms(run_check("alibi")),
        },
        {
            "what": "sluice drift check, scipy detector",
            **shape,
            "median_ms": _median_ms(run_check("scipy")),
        },
        {"what": "plain scipy loop (tests only)", **shape, "median_ms": _median_ms(plain_scipy)},
    ]


def main(frame: Path, model_dir: Path) -> list[dict]:
    from pipelines.cli.drift import drift_python
    from tests.benchmarks.common import report

    done = subprocess.run(
        [str(drift_python()), "-m", "tests.benchmarks.bench_drift", str(frame), str(model_dir)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    if done.returncode != 0:
        raise RuntimeError(f"drift benchmark failed in .venv-drift:\n{done.stderr[-3000:]}")
    rows = [{**r, "within_goal": r["median_ms"] <= GOAL_MS} for r in json.loads(done.stdout)]
    report(
        "drift",
        f"batch drift check, median of {RUNS} runs (goal: {GOAL_MS:.0f} ms)",
        rows,
        {"goal_ms": GOAL_MS, "runs": RUNS},
    )
    return rows


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), Path(sys.argv[2]))))
