"""Rolling-origin backtests: for each k, train on months 1..k of a training frame and test
on month k+1, the network beside the logistic and gradient-boosting references.

A fold is the pipeline's own train and evaluate steps on the frame cut at the end of month
k+1, with a time split of its own: the network fits on months 1..k but their last
`valid_days` days, which choose its early stop and threshold (and the references' own),
and month k+1 is the holdout. Month 1 is the frame's first month.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from components.base.localtime import localized
from components.base.splits import TimeSplit
from components.flights.features import ENTITY_TIMESTAMP, frame_horizon, write_frame
from components.flights.schema import TIMEZONE

if TYPE_CHECKING:
    from components.train import TrainParams

DEFAULT_FIRST, DEFAULT_LAST = 6, 11
DEFAULT_VALID_DAYS = 14
"""Two weeks: every weekday twice, about 13,000 flights of the full data to stop on."""


class BacktestError(ValueError):
    """Folds that cannot be built from the frame; raised before any training."""


@dataclass(frozen=True)
class Fold:
    k: int
    split: TimeSplit
    test_end: str
    """Month k+1 is [split.valid_end, test_end)."""

    @property
    def test_month(self) -> str:
        return self.split.valid_end[:7]


def _month(start: pd.Timestamp, offset: int) -> pd.Timestamp:
    return start + pd.DateOffset(months=offset)


def plan_folds(event_time: pd.Series, first: int, last: int, valid_days: int) -> list[Fold]:
    """Folds k = first..last of a frame with these event times: each has training days
    before its validation days and flights in its test month, or none is made."""
    if not 1 <= first <= last:
        raise BacktestError(f"folds {first}..{last}: need 1 <= first <= last")
    if valid_days < 1:
        raise BacktestError(f"valid_days={valid_days}: must be at least 1")
    local = event_time.dt.tz_convert(TIMEZONE)
    start = local.min().normalize().replace(day=1)
    months = local.dt.strftime("%Y-%m").value_counts()
    folds = []
    for k in range(first, last + 1):
        test_start = _month(start, k)
        train_end = test_start - pd.DateOffset(days=valid_days)  # calendar days
        if train_end <= start:
            raise BacktestError(
                f"fold k={k}: months 1..{k} hold no training days before the last "
                f"{valid_days} validation days; lower valid_days or start at a later k"
            )
        if months.get(f"{test_start:%Y-%m}", 0) == 0:
            raise BacktestError(
                f"fold k={k}: no flights in its test month {test_start:%Y-%m} (month {k + 1} "
                f"of a frame starting {start:%Y-%m})"
            )
        split = TimeSplit(TIMEZONE, f"{train_end:%Y-%m-%d}", f"{test_start:%Y-%m-%d}")
        folds.append(Fold(k, split, f"{_month(start, k + 1):%Y-%m-%d}"))
    return folds


@dataclass
class FoldResult:
    k: int
    test_month: str
    rows: dict[str, int]
    roc_auc: dict[str, float]
    """Holdout (test month) ROC-AUC by model: the network and each reference."""
    epochs_run: int
    seconds: dict[str, float]
    """Wall seconds: the fold, its training and its evaluation (the references' fits too)."""


@dataclass
class BacktestResult:
    folds: list[FoldResult]
    valid_days: int
    epochs: int
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per model: the mean of the folds' AUCs, their standard deviation, min and max."""

    def to_dict(self) -> dict:
        return asdict(self)


def summarise(folds: list[FoldResult]) -> dict[str, dict[str, float]]:
    summary = {}
    for model in folds[0].roc_auc:
        values = [f.roc_auc[model] for f in folds]
        summary[model] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values),
            "max": max(values),
        }
    return summary


def run_backtest(
    training_frame: Path,
    features: list[str],
    out_dir: Path,
    params: TrainParams,
    first: int = DEFAULT_FIRST,
    last: int = DEFAULT_LAST,
    valid_days: int = DEFAULT_VALID_DAYS,
    on_fold: Callable[[Fold, FoldResult | None], None] = lambda fold, result: None,
) -> BacktestResult:
    """Each fold's model and evaluation report land in `out_dir/k<k>/`; `on_fold` hears of
    a fold as it starts (result None) and as it ends."""
    from components.evaluate import run as evaluate
    from components.evaluate.gate import GateConfig
    from components.evaluate.references import REFERENCES
    from components.train import run as train

    frame = pd.read_parquet(training_frame)
    horizon = frame_horizon(training_frame)
    folds = plan_folds(frame[ENTITY_TIMESTAMP], first, last, valid_days)
    out_dir = Path(out_dir)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for fold in folds:
            on_fold(fold, None)
            started = time.perf_counter()
            fold_dir = out_dir / f"k{fold.k}"
            fold_frame = Path(scratch) / f"k{fold.k}.parquet"
            cut = frame[ENTITY_TIMESTAMP] < localized(fold.test_end, TIMEZONE)
            write_frame(frame[cut], fold_frame, horizon)
            trained = train(
                fold_frame,
                features,
                fold_dir / "model",
                Path(scratch) / "ray",
                f"backtest-k{fold.k}",
                replace(params, split=fold.split),
            )
            evaluation = evaluate(
                fold_frame, fold_dir / "model", fold_dir / "evaluation.html", GateConfig()
            )
            result = FoldResult(
                k=fold.k,
                test_month=fold.test_month,
                rows={
                    "train": trained.rows["train"],
                    "valid": trained.rows["valid"],
                    "test": trained.rows["holdout"],
                },
                roc_auc={
                    "network": evaluation.holdout_auc,
                    **{name: evaluation.baselines[name]["roc_auc"] for name in REFERENCES},
                },
                epochs_run=trained.epochs_run,
                seconds={
                    "fold": round(time.perf_counter() - started, 2),
                    "train": trained.seconds,
                    "evaluate": evaluation.seconds,
                },
            )
            results.append(result)
            on_fold(fold, result)
    return BacktestResult(results, valid_days, params.epochs, summarise(results))
