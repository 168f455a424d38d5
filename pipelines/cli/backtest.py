"""`sluice backtest`: rolling-origin folds over a run's training frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from components.base.settings import get_settings
from pipelines.backtest import DEFAULT_FIRST, DEFAULT_LAST, DEFAULT_VALID_DAYS
from pipelines.cli.app import app, console, fail


def run_frame(run_id: str | None) -> tuple[Path, list[str], str]:
    """A local run's training frame and its features: the run named, else the latest
    with a frame."""
    runs = get_settings().runs_dir
    paths = [runs / run_id / "summary.json"] if run_id else sorted(runs.glob("*/summary.json"))
    for path in reversed(paths):
        if not path.is_file():
            continue
        features = json.loads(path.read_text()).get("features", {})
        if Path(features.get("training_frame_path", "")).is_file():
            return Path(features["training_frame_path"]), features["features"], path.parent.name
    what = f"run {run_id}" if run_id else f"any run under {runs}"
    raise fail(f"no training frame in {what}: run `sluice run` first, or name one with --run")


def fold_table(result) -> Table:
    models = list(result.summary)
    table = Table(title=f"rolling-origin backtest: holdout ROC-AUC ({result.epochs} epochs max)")
    for column in ("k", "test", "train rows", "test rows", *models, "s"):
        table.add_column(column, justify="left" if column == "test" else "right")
    for fold in result.folds:
        aucs = [f"{fold.roc_auc[m]:.4f}" for m in models]
        rows = [f"{fold.rows[part]:,}" for part in ("train", "test")]
        table.add_row(str(fold.k), fold.test_month, *rows, *aucs, f"{fold.seconds['fold']:.0f}")
    table.add_section()
    for stat in ("mean", "std", "min", "max"):
        cells = [f"{result.summary[m][stat]:.4f}" for m in models]
        table.add_row(stat, "", "", "", *cells, "", style="bold" if stat == "mean" else "")
    return table


@app.command()
def backtest(
    run: Annotated[
        str | None, typer.Option(help="The run whose training frame to use; default the latest.")
    ] = None,
    first: Annotated[
        int, typer.Option(help="The first fold: train on months 1..first.")
    ] = DEFAULT_FIRST,
    last: Annotated[
        int, typer.Option(help="The last fold: test on month last + 1.")
    ] = DEFAULT_LAST,
    valid_days: Annotated[
        int, typer.Option(help="The last days of each fold's months 1..k that validate.")
    ] = DEFAULT_VALID_DAYS,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Most epochs per fold; default as `sluice run`.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where backtest.json and the folds go.")] = None,
) -> None:
    """Rolling-origin backtest: for k = first..last, train on months 1..k of a run's
    training frame and test on month k+1; each fold's AUC for the network and the logistic
    and gradient-boosting references, with their mean and spread. Prints the table and
    writes backtest.json."""
    from components.train import TrainingDataError, TrainParams
    from pipelines.backtest import BacktestError, run_backtest
    from pipelines.local import new_run_id

    frame, features, source_run = run_frame(run)
    params = TrainParams() if epochs is None else TrainParams(epochs=epochs)
    out = out or get_settings().home / "backtests" / new_run_id()
    console.print(
        f"[bold]sluice backtest[/]: folds k={first}..{last} over the training frame of run "
        f"{source_run} ({frame})"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("folds", total=max(last - first + 1, 0))

        def on_fold(fold, result) -> None:
            if result is None:
                progress.update(task, description=f"fold k={fold.k}: test {fold.test_month}")
            else:
                progress.advance(task)
                aucs = ", ".join(f"{m} {v:.4f}" for m, v in result.roc_auc.items())
                progress.console.print(f"fold k={fold.k} ({fold.test_month}): {aucs}")

        try:
            result = run_backtest(
                frame, features, out, params, first, last, valid_days, on_fold=on_fold
            )
        except (BacktestError, TrainingDataError) as exc:
            raise fail(f"backtest: {exc}") from None
    out.mkdir(parents=True, exist_ok=True)
    payload = {"run": source_run, "training_frame": str(frame), **result.to_dict()}
    (out / "backtest.json").write_text(json.dumps(payload, indent=2))
    console.print(fold_table(result))
    console.print(f"[dim]wrote {out / 'backtest.json'}[/]")
