"""Rolling-origin backtest on the full data: for k = 6..11, train on months 1..k and test on
month k+1; each fold's holdout AUC for the network and the logistic and gradient-boosting
references, with their mean and spread over the folds."""

from __future__ import annotations

import tempfile
from pathlib import Path

from components.train import TrainParams
from pipelines.backtest import DEFAULT_FIRST, DEFAULT_LAST, run_backtest
from tests.benchmarks.common import console, report


def main(
    training_frame: Path, features: list[str], first: int = DEFAULT_FIRST, last: int = DEFAULT_LAST
) -> None:
    def on_fold(fold, result) -> None:
        if result is None:
            console.print(f"backtest fold k={fold.k}: test month {fold.test_month}")

    with tempfile.TemporaryDirectory() as work:
        result = run_backtest(
            training_frame, features, Path(work), TrainParams(), first, last, on_fold=on_fold
        )
    import ray

    ray.shutdown()  # its actors would otherwise share the cores with the benches after it
    rows = [
        {
            "k": fold.k,
            "test_month": fold.test_month,
            "train_rows": fold.rows["train"],
            "test_rows": fold.rows["test"],
            **fold.roc_auc,
            "network_minus_gbdt": fold.roc_auc["network"] - fold.roc_auc["gbdt"],
            "epochs": fold.epochs_run,
            **{f"{part}_s": round(seconds) for part, seconds in fold.seconds.items()},
        }
        for fold in result.folds
    ]
    report(
        "backtest",
        f"rolling-origin backtest, folds k={first}..{last}: holdout ROC-AUC by model",
        rows,
        {"summary": result.summary, "valid_days": result.valid_days},
        digits=4,
    )
    for model, stats in result.summary.items():
        console.print(
            f"{model}: mean AUC [bold]{stats['mean']:.4f}[/] ± {stats['std']:.4f} "
            f"(min {stats['min']:.4f}, max {stats['max']:.4f})"
        )
