"""Batch drift on real flights (tests/drift_data.py): the October–December season against
January–August, false positives over same-distribution splits, the calendar left out,
alibi-detect against plain scipy, and `sluice drift` itself. The checks run in the drift
environment (`make venv-drift`), by subprocess, as `sluice drift` runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from components.flights.request import CALENDAR_FEATURES
from pipelines.cli import app
from pipelines.cli import drift as drift_cli
from serving.drift.detectors import LICENCE_NOTE
from tests.drift_data import HOLDOUT_MONTHS, TRAINING_MONTHS, season_frame, write_model
from tests.services import missing

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TEMPERATURE = {"temp", "dewp"}
"""The temperature-related features: air temperature and dew point."""


@pytest.fixture(scope="module")
def drift_python() -> Path:
    python = drift_cli.drift_python()
    if not python.is_file():
        missing(f"no drift environment at {python.parent.parent}: `make venv-drift` makes it")
    return python


@pytest.fixture(scope="module")
def seasons(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("seasons")
    frame, features = season_frame(root)
    training = frame[frame["month"].isin(TRAINING_MONTHS)]
    holdout = frame[frame["month"].isin(HOLDOUT_MONTHS)]
    training.to_parquet(root / "training.parquet")
    holdout.to_parquet(root / "holdout.parquet")
    return {
        "frame": root / "frame.parquet",
        "training": root / "training.parquet",
        "holdout": root / "holdout.parquet",
        "features": features,
        "model": write_model(root / "model", training, features, rows=5_000),
        "table": training,
    }


def sluice_drift(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "drift", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def in_drift_env(python: Path, *args: str):
    done = subprocess.run(
        [str(python), "-m", "tests.drift_cases", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _months(months) -> str:
    return ",".join(map(str, sorted(months)))


def test_the_autumn_season_drifts_with_temperature_leading(seasons, drift_python, tmp_path):
    done = sluice_drift(
        "--reference", seasons["training"], "--current", seasons["holdout"],
        "--model", seasons["model"], "--out", tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert LICENCE_NOTE in done.stderr and "DRIFT" in done.stdout
    report = json.loads((tmp_path / "drift.json").read_text())
    assert report["is_drift"] and report["detector"] == "alibi"
    top = [f["feature"] for f in report["features"][:5]]
    assert TEMPERATURE & set(top), top
    assert set(CALENDAR_FEATURES) == set(report["excluded"])
    assert not set(CALENDAR_FEATURES) & {f["feature"] for f in report["features"]}
    page = (tmp_path / "drift.html").read_text()
    assert "drift detected" in page and page.count("<img") == len(report["features"]) + 2


def test_same_distribution_splits_rarely_flag(seasons, drift_python):
    results = in_drift_env(
        drift_python, "splits", seasons["frame"], ",".join(seasons["features"]),
        _months(TRAINING_MONTHS),
    )  # fmt: skip
    assert len(results) == 20
    flagged = [r for r in results if r["is_drift"]]
    assert len(flagged) <= 2, flagged


def test_scipy_detector_matches_alibi_detect(seasons, drift_python):
    results = in_drift_env(
        drift_python, "parity", seasons["frame"], ",".join(seasons["features"]),
        _months(TRAINING_MONTHS), _months(HOLDOUT_MONTHS),
    )  # fmt: skip
    for pair, runs in results.items():
        for run in runs:
            assert run["max_p_diff"] <= 1e-6, (pair, run)
            assert run["max_stat_rel_diff"] <= 1e-5, (pair, run)
            assert run["verdicts"][0] == run["verdicts"][1], (pair, run)
            assert run["thresholds"][0] == pytest.approx(run["thresholds"][1]), (pair, run)
    # the comparison is only worth something over p-values that are neither 0 nor all 1
    spread = results["same"][0]["p_values"]
    assert sum(0.01 < p < 0.99 for p in spread) >= 5, spread
    assert results["seasonal"][0]["verdicts"] == [True, True]


def test_a_new_month_alone_is_not_drift(seasons, drift_python, tmp_path):
    """One month's flights split in two, the second half moved to another month: the same
    weather and schedule mix, a different calendar. Only with the calendar included does
    it drift, on `month`."""
    march = seasons["table"][seasons["table"]["month"] == 3].sample(frac=1, random_state=0)
    half = len(march) // 2
    march.iloc[:half].to_parquet(tmp_path / "march.parquet")
    march.iloc[half:].assign(month=6).to_parquet(tmp_path / "june.parquet")
    pair = ["--reference", tmp_path / "march.parquet", "--current", tmp_path / "june.parquet"]
    model = ["--model", seasons["model"], "--detector", "scipy"]
    default = sluice_drift(*pair, *model, "--out", tmp_path / "default")
    assert default.returncode == 0, default.stdout + default.stderr
    assert LICENCE_NOTE not in default.stderr
    everything = sluice_drift(*pair, *model, "--exclude", "", "--out", tmp_path / "all")
    assert everything.returncode == 1, everything.stdout + everything.stderr
    report = json.loads((tmp_path / "all" / "drift.json").read_text())
    assert report["features"][0]["feature"] == "month"
    assert [f["feature"] for f in report["features"] if f["drifted"]] == ["month"]


def test_no_drift_exits_0_and_the_model_sample_is_the_default_reference(
    seasons, drift_python, tmp_path
):
    window = seasons["table"].sample(1_000, random_state=7)
    window.to_parquet(tmp_path / "window.parquet")
    done = sluice_drift(
        "--current", tmp_path / "window.parquet", "--model", seasons["model"],
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "out" / "drift.json").read_text())
    assert not report["is_drift"] and report["rows_reference"] == 5_000
    assert report["rows_current"] == 1_000
    assert "no drift" in (tmp_path / "out" / "drift.html").read_text()


def test_bad_input_is_one_line_and_exit_2(seasons, drift_python, tmp_path):
    seasons["table"].drop(columns=["temp"]).head(500).to_parquet(tmp_path / "no_temp.parquet")
    (tmp_path / "text.parquet").write_text("carrier,origin\nUA,EWR\n")
    cases = {
        "no_temp.parquet": "missing column(s) temp",
        "text.parquet": "not a readable Parquet file",
        "absent.parquet": "no such file",
    }
    for name, expected in cases.items():
        done = sluice_drift(
            "--current", tmp_path / name, "--model", seasons["model"], "--detector", "scipy",
            "--out", tmp_path / "out",
        )  # fmt: skip
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and name in lines[0], (name, lines)
        assert not done.stdout.strip()


def test_a_check_that_fails_by_itself_is_not_drift(seasons, drift_python, tmp_path):
    (tmp_path / "out").write_text("a file where the reports should go")
    seasons["table"].head(500).to_parquet(tmp_path / "window.parquet")
    done = sluice_drift(
        "--current", tmp_path / "window.parquet", "--model", seasons["model"],
        "--detector", "scipy", "--out", tmp_path / "out", "--exclude", "nonsense",
    )  # fmt: skip
    assert done.returncode == 2 and "--exclude nonsense: no such feature" in done.stderr
    done = sluice_drift(
        "--current", tmp_path / "window.parquet", "--model", seasons["model"],
        "--detector", "scipy", "--out", tmp_path / "out",
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    assert "the drift check failed" in done.stderr


def test_a_check_killed_by_a_signal_is_a_failed_check_not_an_exit_code(monkeypatch, tmp_path):
    python = tmp_path / ".venv-drift" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nkill -ABRT $$\n")
    python.chmod(0o755)
    monkeypatch.setattr(drift_cli, "DRIFT_VENV", tmp_path / ".venv-drift")
    result = CliRunner().invoke(app, ["drift", "--current", "x.parquet", "--out", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert "killed by SIGABRT" in result.output and "not drift" in result.output


def test_a_missing_drift_environment_says_how_to_make_it(monkeypatch, tmp_path):
    monkeypatch.setattr(drift_cli, "DRIFT_VENV", tmp_path / ".venv-drift")
    result = CliRunner().invoke(app, ["drift", "--current", "x.parquet"])
    assert result.exit_code == 2
    assert "make venv-drift" in result.output and len(result.output.strip().splitlines()) == 1
