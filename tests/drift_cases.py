"""Run inside the drift environment by tests/integration/test_drift.py (`.venv-drift/bin/python
-m tests.drift_cases CASE FRAME`), where alibi-detect is: many checks in one process, each
answer printed as JSON for the test to judge."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from components.flights.request import CALENDAR_FEATURES, CATEGORICAL_FEATURES
from serving.drift.check import check
from serving.drift.inputs import Features, encode

SPLITS = 20
REFERENCE_ROWS, WINDOW_ROWS = 5_000, 1_000


def _features(frame: pd.DataFrame, names: list[str]) -> Features:
    categorical = tuple(f for f in names if f in CATEGORICAL_FEATURES)
    numeric = tuple(f for f in names if f not in categorical)
    return Features(categorical, numeric).without(CALENDAR_FEATURES)


def splits(frame: pd.DataFrame, features: Features) -> list[dict]:
    """Twenty random, disjoint reference/window pairs drawn from the same rows."""
    out = []
    for seed in range(SPLITS):
        rows = np.random.default_rng(seed).permutation(len(frame))
        ref = frame.iloc[rows[:REFERENCE_ROWS]]
        cur = frame.iloc[rows[REFERENCE_ROWS : REFERENCE_ROWS + WINDOW_ROWS]]
        result = check(*encode(ref, cur, features, ("ref", "cur")), features)
        out.append({"is_drift": result.is_drift, "top": result.top(3)})
    return out


def parity(frame: pd.DataFrame, other: pd.DataFrame, features: Features) -> list[dict]:
    """Both detectors on one pair, under both corrections."""
    x_ref, x = encode(frame, other, features, ("ref", "cur"))
    out = []
    for correction in ("bonferroni", "fdr"):
        runs = {d: check(x_ref, x, features, d, correction=correction) for d in ("alibi", "scipy")}
        p = {d: {f.feature: f.p_value for f in r.features} for d, r in runs.items()}
        stat = {d: {f.feature: f.statistic for f in r.features} for d, r in runs.items()}
        out.append(
            {
                "correction": correction,
                "max_p_diff": max(abs(p["alibi"][n] - p["scipy"][n]) for n in features.names),
                "max_stat_rel_diff": max(
                    abs(stat["alibi"][n] - stat["scipy"][n]) / max(abs(stat["scipy"][n]), 1e-12)
                    for n in features.names
                ),
                "verdicts": [runs["alibi"].is_drift, runs["scipy"].is_drift],
                "thresholds": [runs["alibi"].threshold, runs["scipy"].threshold],
                "p_values": sorted(p["scipy"].values()),
            }
        )
    return out


def main(case: str, path: str, names: str, months: str, other_months: str = "") -> None:
    frame = pd.read_parquet(path)
    features = _features(frame, names.split(","))
    first = frame[frame["month"].isin([int(m) for m in months.split(",")])]
    if case == "splits":
        print(json.dumps(splits(first, features)))
    elif case == "parity":
        second = frame[frame["month"].isin([int(m) for m in other_months.split(",")])]
        sample = {"random_state": 0}
        pairs = {
            "seasonal": (first.sample(10_000, **sample), second.sample(1_000, **sample)),
            "same": (first.sample(10_000, **sample), first.sample(1_000, random_state=1)),
        }
        print(json.dumps({k: parity(a, b, features) for k, (a, b) in pairs.items()}))
    else:
        raise SystemExit(f"unknown case {case!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
