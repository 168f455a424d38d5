"""Training throughput: Ray Train DDP (2 CPU workers, gloo) next to a plain single-process
PyTorch loop, on the same full training frame, the same epochs, in the same run."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from components.train import TrainParams
from components.train import run as train
from tests.benchmarks.common import console, report

EPOCHS = 4


def main(training_frame: Path, features: list[str]) -> None:
    params = TrainParams(epochs=EPOCHS, patience=EPOCHS + 1)  # no early stop: equal work
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for label, changes in (
            ("ray train, 2 workers (gloo)", {"launcher": "ray", "num_workers": 2}),
            ("single process", {"launcher": "single-process"}),
        ):
            console.print(f"training: {label}, {EPOCHS} epochs")
            result = train(
                training_frame,
                features,
                Path(work) / label.split(",")[0].replace(" ", "_"),
                Path(work) / "ray",
                label.split(",")[0].replace(" ", "_"),
                replace(params, **changes),
            )
            rows.append(
                {
                    "launcher": label,
                    "train_rows": result.rows["train"],
                    "epochs": result.epochs_run,
                    "samples_per_second": result.samples_per_second,
                    "step_seconds": result.seconds,
                    "val_auc": result.val_auc,
                }
            )
    import ray

    ray.shutdown()  # its actors would otherwise share the cores with the serving bench
    ratio = rows[0]["samples_per_second"] / rows[1]["samples_per_second"]
    report(
        "training_throughput",
        "training throughput, full data",
        rows,
        {"ray_over_single_process": ratio},
    )
    console.print(f"Ray Train / single process samples/s: [bold]{ratio:.2f}[/]")
