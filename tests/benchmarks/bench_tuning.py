"""Tuning: the untuned model next to the best of a Ray Tune search (ASHA), on the same
training frame, the same epochs budget, in the same run: validation loss and AUC (what the
search sees) and holdout AUC (what it does not)."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from components.base.contract.artifact import ModelArtifact
from components.flights.features import ENTITY_TIMESTAMP
from components.train import TrainParams, TrainResult
from components.train import run as train
from tests.benchmarks.common import console, report

TRIALS = 6


def _holdout_auc(frame: pd.DataFrame, params: TrainParams, model_dir: str) -> float:
    holdout = params.split.split(frame, ENTITY_TIMESTAMP)["holdout"]
    model = ModelArtifact(model_dir)
    scores, _ = model.predict_frame(holdout)  # through the graph the server runs
    return float(roc_auc_score(holdout[model.metadata.label], scores))


def _row(label: str, result: TrainResult, holdout_auc: float) -> dict:
    tuning = result.tuning or {}
    return {
        "model": label,
        "trials": tuning.get("trials", 0),
        "stopped_early": tuning.get("stopped_early", 0),
        "hyperparameters": " ".join(f"{k}={v}" for k, v in result.hyperparameters.items()),
        "best_val_loss": result.best_val_loss,
        "val_auc": result.val_auc,
        "holdout_auc": holdout_auc,
        "step_seconds": result.seconds,
    }


def main(
    training_frame: Path,
    features: list[str],
    trials: int = TRIALS,
    params: TrainParams | None = None,
) -> dict:
    params = params or TrainParams()
    frame = pd.read_parquet(training_frame)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for label, count in (("untuned", 0), (f"tuned, {trials} trials", trials)):
            console.print(f"tuning bench: {label}, up to {params.epochs} epochs")
            name = label.split(",")[0]
            result = train(
                training_frame,
                features,
                Path(work) / name,
                Path(work) / "ray",
                name,
                replace(params, tune_trials=count),
            )
            rows.append(_row(label, result, _holdout_auc(frame, params, result.model_dir)))
    import ray

    ray.shutdown()  # its actors would otherwise share the cores with the later benches
    gain = rows[1]["holdout_auc"] - rows[0]["holdout_auc"]
    report("tuning", "untuned vs tuned (Ray Tune, ASHA)", rows, {"holdout_auc_gain": gain})
    console.print(f"holdout AUC, tuned − untuned: [bold]{gain:+.4f}[/]")
    return {"rows": rows, "holdout_auc_gain": gain}
