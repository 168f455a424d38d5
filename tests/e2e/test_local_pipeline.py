import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from components.base.settings import Settings
from pipelines.local import run_pipeline
from tests.conftest import write_slice
from tests.e2e.conftest import JANUARY_ARGUMENTS, JANUARY_REFERENCE

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(180)
def test_january_slice_runs_end_to_end(january_run):
    summary, source = january_run
    assert summary.status == "succeeded", summary.message
    january = len(pd.read_parquet(source / "flights.parquet"))
    assert summary.validation["passed"] is True
    assert summary.validation["rows"]["flights"] == january
    assert summary.features["rows"] == january
    assert summary.features["offline_store"] == "duckdb"
    frame = pd.read_parquet(summary.features["training_frame_path"])
    assert len(frame) == january and "origin_delayed_share" in frame
    saved = json.loads((Path(summary.run_dir) / "summary.json").read_text())
    assert saved["data_version"] == summary.data_version
    assert list(saved["steps"]) == [
        "ingest",
        "validate",
        "featurize",
        "train",
        "evaluate",
        "register",
    ]
    assert all(step["status"] == "succeeded" for step in saved["steps"].values())
    assert saved["holdout_auc"] > saved["baselines"]["logistic"] > saved["baselines"]["base_rate"]
    assert 0.5 < saved["baselines"]["gbdt"] < 1  # the gradient-boosting reference, same run
    assert {check["name"] for check in saved["gate"]} == {
        "min_auc",
        "beats_logistic",
        "slice_gap",
        "vs_champion",
    }
    assert saved["model_version"] == "1"
    assert saved["registration"]["alias"] == "challenger"
    assert saved["training"]["workers"] == 2 and saved["training"]["backend"] == "ray/gloo"
    # A one-month slice shifts the seasonal distributions: they warn, they do not block.
    assert any(
        w["expectation"] == "expect_column_mean_to_be_between"
        for w in summary.validation["warnings"]
    )
    assert (Path(summary.validation["report_path"])).read_text().startswith("<!doctype html>")


def _corrupt(source: Path) -> dict[str, list[int]]:
    flights = pd.read_parquet(source / "flights.parquet")
    flights["dep_delay"] = flights["dep_delay"].astype(object)
    corrupted = {
        "dep_delay": [5, 6],  # wrong type
        "origin": [10, 11, 12],  # unknown airport code
        "dest": [30],  # unknown airport code
        "distance": [20],  # out of range
        "carrier": [40],  # unknown carrier
    }
    flights.loc[corrupted["dep_delay"], "dep_delay"] = "late"
    flights.loc[corrupted["origin"], "origin"] = "XXX"
    flights.loc[corrupted["dest"], "dest"] = "ZZZ"
    flights.loc[corrupted["distance"], "distance"] = -5
    flights.loc[corrupted["carrier"], "carrier"] = "Q9"
    flights.to_csv(source / "flights.csv", index=False)
    (source / "flights.parquet").unlink()
    return corrupted


@pytest.mark.timeout(180)
def test_corrupted_data_stops_at_validation_and_quarantines_exactly_the_bad_rows(tmp_path):
    source = write_slice(tmp_path / "source", {1}, days=10)
    corrupted = _corrupt(source)
    env = {**os.environ, "SLUICE_HOME": str(tmp_path / "home")}
    cli = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "run",
        "--source",
        str(source),
        "--reference-time",
        "2013-01-11T00:00:00-05:00",
        "--max-staleness-days",
        "3",
    ]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=170)
    assert done.returncode == 1, done.stdout + done.stderr
    printed = "".join(done.stdout.split())
    for column in corrupted:
        assert f"flights.{column}:" in printed
    summaries = list((tmp_path / "home" / "runs").glob("*/summary.json"))
    summary = json.loads(summaries[0].read_text())
    assert summary["status"] == "stopped"
    assert summary["steps"]["featurize"]["status"] == "skipped"
    failing = {(f["column"], f["expectation"]) for f in summary["validation"]["failures"]}
    assert ("dep_delay", "expect_column_values_to_be_of_type") in failing
    assert ("origin", "expect_column_values_to_be_in_set") in failing
    assert ("distance", "expect_column_values_to_be_between") in failing
    quarantine = pd.read_parquet(Path(summary["validation"]["quarantine_path"]) / "flights.parquet")
    expected = sorted(row for rows in corrupted.values() for row in rows)
    assert sorted(quarantine["_row"]) == expected
    assert quarantine.set_index("_row").loc[20, "_reasons"] == (
        "distance: expect_column_values_to_be_between"
    )
    assert summary["validation"]["quarantined"]["flights"] == len(expected)


def test_missing_source_is_a_clear_error_not_a_traceback(tmp_path):
    env = {**os.environ, "SLUICE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--source", str(tmp_path / "nope")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        "does not exist" in " ".join(done.stdout.split())
        and "Traceback" not in done.stdout + done.stderr
    )


def test_stale_data_blocks_on_freshness(tmp_path):
    from components.ingest import run as ingest
    from components.validate import run as validate

    source = write_slice(tmp_path / "source", {1}, days=3)
    snapshot = ingest(str(source), tmp_path / "snapshots")
    result = validate(
        snapshot_dir=Path(snapshot.snapshot_dir),
        validated_dir=tmp_path / "v",
        quarantine_dir=tmp_path / "q",
        report_json=tmp_path / "r.json",
        report_html=tmp_path / "r.html",
        reference_time=JANUARY_REFERENCE,
        max_staleness_days=7,
    )
    assert not result.passed
    stale = [f for f in result.failures if f["expectation"] == "expect_column_max_to_be_between"]
    assert {f["table"] for f in stale} == {"flights", "weather"}
    assert all(f["column"] == "time_hour" for f in stale)


@pytest.mark.timeout(240)
def test_after_promotion_the_next_run_is_compared_with_the_champion(january_run):
    first, source = january_run
    home = Path(first.run_dir).parents[1]
    env = {**os.environ, "SLUICE_HOME": str(home)}
    promoted = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "promote", first.model_version],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    second = run_pipeline(Settings(home=home), {"source": str(source), **JANUARY_ARGUMENTS})
    assert second.status == "succeeded", second.message
    assert second.ingest["reused"] is True  # the same snapshot
    champion = second.evaluation["champion"]
    assert champion["version"] == first.model_version
    vs_champion = next(c for c in second.gate if c["name"] == "vs_champion")
    assert vs_champion["limit"] == pytest.approx(champion["roc_auc"] - 0.005)
    assert second.model_version == str(int(first.model_version) + 1)


@pytest.mark.timeout(240)
def test_a_failing_gate_registers_nothing(january_run, tmp_path):
    _, source = january_run
    settings = Settings(home=tmp_path / "home")
    summary = run_pipeline(
        settings, {"source": str(source), **{**JANUARY_ARGUMENTS, "min_auc": 0.99}}
    )
    assert summary.status == "stopped"
    assert "holdout ROC-AUC" in summary.message and "0.9900" in summary.message
    assert summary.steps["register"]["status"] == "skipped"
    assert summary.model_version is None
    from components.base.registry import client

    registry = client(settings.tracking_uri)
    assert registry.search_model_versions("name = 'sluice-flights'") == []
    # The challenger's run stays, with its evaluation: why it failed is on record.
    (run,) = registry.search_runs([registry.get_experiment_by_name("sluice-flights").experiment_id])
    assert run.data.tags["sluice.gate"] == "failed"
    assert run.data.metrics["holdout_roc_auc"] == pytest.approx(summary.holdout_auc)
    assert "evaluation.json" in [a.path for a in registry.list_artifacts(run.info.run_id)]
