import pandas as pd
import pytest

from pipelines.backtest import BacktestError, FoldResult, plan_folds, summarise


def _year() -> pd.Series:
    """Hourly event times over 2013 in New York, stored as UTC as the frame stores them."""
    local = pd.date_range("2013-01-01 05:00", "2013-12-31 23:00", freq="h", tz="America/New_York")
    return pd.Series(local.tz_convert("UTC"))


def test_fold_k_trains_on_months_1_to_k_and_tests_on_month_k_plus_1():
    folds = plan_folds(_year(), 6, 11, valid_days=14)
    assert [f.k for f in folds] == [6, 7, 8, 9, 10, 11]
    assert [f.test_month for f in folds] == [f"2013-{m:02d}" for m in range(7, 13)]
    first = folds[0]
    assert (first.split.train_end, first.split.valid_end, first.test_end) == (
        "2013-06-17",
        "2013-07-01",
        "2013-08-01",
    )
    assert folds[-1].test_end == "2014-01-01"
    # Validation days are calendar days, across the March change of clocks too.
    assert plan_folds(_year(), 2, 2, valid_days=1)[0].split.train_end == "2013-02-28"


@pytest.mark.parametrize(
    ("first", "last", "valid_days", "message"),
    [
        (1, 2, 31, "fold k=1: months 1..1 hold no training days"),
        (11, 12, 14, r"fold k=12: no flights in its test month 2014-01"),
        (7, 6, 14, r"folds 7..6: need 1 <= first <= last"),
        (0, 2, 14, r"folds 0..2"),
        (6, 11, 0, "valid_days=0: must be at least 1"),
    ],
)
def test_folds_that_cannot_be_built_are_refused_before_training(first, last, valid_days, message):
    with pytest.raises(BacktestError, match=message):
        plan_folds(_year(), first, last, valid_days)


def test_the_summary_is_each_models_mean_and_spread_over_the_folds():
    folds = [
        FoldResult(k, f"m{k}", {}, {"network": auc, "gbdt": auc - 0.01}, 1, {})
        for k, auc in ((1, 0.70), (2, 0.74), (3, 0.72))
    ]
    summary = summarise(folds)
    assert summary["network"] == pytest.approx(
        {"mean": 0.72, "std": 0.02, "min": 0.70, "max": 0.74}
    )
    assert summary["gbdt"]["mean"] == pytest.approx(0.71)
