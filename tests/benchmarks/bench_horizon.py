"""Holdout AUC by prediction horizon on the full data: the features read 0, 1, 2 and 6 hours
before the scheduled departure (the quarter hour that holds it), the same training and
evaluation for each, so users see what predicting earlier costs. The network beside the
logistic and gradient-boosting references, and how often the aircraft's latest departure is
still known that early."""

from __future__ import annotations

import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

from components.evaluate import run as evaluate
from components.evaluate.gate import GateConfig
from components.featurize import run as featurize
from components.flights.features import AIRCRAFT_MINUTES_SINCE
from components.train import TrainParams
from components.train import run as train
from tests.benchmarks.common import console, report

HORIZONS_H = (0, 1, 2, 6)


def main(validated: Path, horizons: tuple[int, ...] = HORIZONS_H) -> list[dict]:
    rows = []
    for hours in horizons:
        console.print(f"horizon {hours} h: featurize, train, evaluate")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as work:
            work = Path(work)
            frame_path = work / "frame.parquet"
            features = featurize(
                validated,
                work / "repo",
                frame_path,
                materialize=False,
                horizon=timedelta(hours=hours),
            ).features
            trained = train(
                frame_path,
                features,
                work / "model",
                work / "ray",
                f"horizon-{hours}h",
                TrainParams(),
            )
            evaluation = evaluate(frame_path, work / "model", work / "report.html", GateConfig())
            known = pd.read_parquet(frame_path, columns=[AIRCRAFT_MINUTES_SINCE]).notna().mean()
        rows.append(
            {
                "horizon_h": hours,
                "network": evaluation.holdout_auc,
                **{
                    name: b["roc_auc"]
                    for name, b in evaluation.baselines.items()
                    if name != "base_rate"
                },
                "network_minus_logistic": evaluation.holdout_auc
                - evaluation.baselines["logistic"]["roc_auc"],
                "aircraft_known": float(known.iloc[0]),
                "epochs": trained.epochs_run,
                "seconds": round(time.perf_counter() - started),
            }
        )
    import ray

    ray.shutdown()  # its actors would otherwise share the cores with the benches after it
    report(
        "horizon",
        "holdout ROC-AUC by prediction horizon (features read h hours ahead)",
        rows,
        {},
        digits=4,
    )
    return rows
