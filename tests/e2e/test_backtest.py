"""`sluice backtest` on the first 12 days of three months (short, for CI's time): folds
k=1..2, each trained on the months before its test month and tested on that month alone."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pandas as pd
import pytest

from components.base.contract.metadata import ModelMetadata
from components.flights.features import ENTITY_TIMESTAMP
from components.flights.schema import TIMEZONE
from tests.conftest import build_training_frame

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def quarter(tmp_path_factory):
    """A home whose one run has a real training frame of January to March."""
    root = tmp_path_factory.mktemp("quarter")
    featurized = build_training_frame(
        root / "frame", {1, 2, 3}, reference_time="2013-04-01", days=12, materialize=False
    )
    run_dir = root / "home" / "runs" / "20130401-000000-backtest"
    run_dir.mkdir(parents=True)
    frame = root / "frame" / "frame.parquet"
    features = {"training_frame_path": str(frame), "features": featurized.features}
    (run_dir / "summary.json").write_text(json.dumps({"features": features}))
    return root, frame


def _backtest(root, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLUICE_HOME": str(root / "home")}
    cli = [sys.executable, "-m", "pipelines.cli", "backtest", *args]
    return subprocess.run(cli, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(600)
def test_each_fold_tests_the_month_after_its_training_months(quarter):
    root, frame_path = quarter
    out = root / "out"
    done = _backtest(
        root, "--first", "1", "--last", "2", "--valid-days", "22", "--epochs", "2",
        "--out", str(out), timeout=580,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rolling-origin backtest" in done.stdout  # the table
    result = json.loads((out / "backtest.json").read_text())
    month = pd.read_parquet(frame_path)[ENTITY_TIMESTAMP].dt.tz_convert(TIMEZONE).dt.month
    folds = result["folds"]
    assert [f["test_month"] for f in folds] == ["2013-02", "2013-03"]
    for fold, test_month in zip(folds, (2, 3), strict=True):
        assert fold["rows"]["test"] == (month == test_month).sum()
        assert fold["rows"]["train"] + fold["rows"]["valid"] == (month < test_month).sum()
        assert 0 < fold["rows"]["valid"] < (month == test_month - 1).sum()  # its last days
        model = out / f"k{fold['k']}" / "model"
        assert ModelMetadata.read(model).time_split["valid_end"] == f"2013-{test_month:02d}-01"
        assert set(fold["roc_auc"]) == {"network", "logistic", "gbdt"}
        for auc in fold["roc_auc"].values():
            assert 0.5 < auc < 1
        assert "gbdt" in (out / f"k{fold['k']}" / "evaluation.html").read_text()
    network = [f["roc_auc"]["network"] for f in folds]
    assert network[0] != network[1]
    assert result["summary"]["network"]["mean"] == pytest.approx(statistics.fmean(network))
    assert result["summary"]["network"]["std"] == pytest.approx(statistics.stdev(network))


def test_a_fold_past_the_data_is_refused_before_training(quarter):
    root, _ = quarter
    done = _backtest(root, "--first", "2", "--last", "3", "--out", str(root / "refused"))
    assert done.returncode == 2
    said = " ".join(done.stdout.split())
    assert "fold k=3: no flights in its test month 2013-04" in said
    assert not (root / "refused" / "k2").exists()  # nothing was trained
    unknown = _backtest(root, "--run", "nope")
    assert unknown.returncode == 2
    assert "no training frame in run nope" in " ".join(unknown.stdout.split())
