"""The loop closed on one machine: a sluice server logging its calls feeds the drift
service; autumn traffic to a January model drifts; the drift service calls the retrain
trigger, which starts a local `sluice run`; and that run registers a new version as
`challenger`. Every piece is a process, as on a cluster."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import orjson
import pandas as pd
import pytest
from mlflow import MlflowClient

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME
from components.base.registry import CHALLENGER
from serving.process import model_server
from tests.conftest import build_training_frame
from tests.drift_service import drift_service, trigger_service, wait_until
from tests.e2e.conftest import JANUARY_ARGUMENTS
from tests.services import missing

WINDOW = 500
ROWS_PER_CALL = 50


@pytest.fixture(scope="module")
def autumn_calls(tmp_path_factory, january_run) -> list[dict]:
    """October–December flights as the January model's inputs, in calls of 50."""
    summary, _ = january_run
    root = tmp_path_factory.mktemp("autumn-traffic")
    build_training_frame(root, {10, 11, 12}, reference_time="2014-01-01", days=4, materialize=False)
    features = ModelArtifact(summary.training["model_path"]).layout.features
    rows = pd.read_parquet(root / "frame.parquet")[features].sample(n=2 * WINDOW, random_state=0)
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    return [
        {"instances": records[i : i + ROWS_PER_CALL]} for i in range(0, len(records), ROWS_PER_CALL)
    ]


@pytest.mark.timeout(600)
def test_drift_in_served_traffic_retrains_and_registers_a_challenger(
    january_run, autumn_calls, tmp_path
):
    summary, source = january_run
    january_home = Path(summary.run_dir).parents[1]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "MLFLOW_", "KF_"))}
    retrain_home, serve_home = tmp_path / "retrain", tmp_path / "serve"
    fixed = {**JANUARY_ARGUMENTS, "source": str(source), "epochs": 2}
    params = [a for k, v in fixed.items() for a in ("--param", f"{k}={v}")]
    trigger_env = {**clean, "SLUICE_HOME": str(retrain_home), "HOME": str(tmp_path)}
    serve_env = {
        **clean,
        "SLUICE_HOME": str(serve_home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{january_home / 'mlflow.db'}",
    }
    with (
        trigger_service(trigger_env, "--local", *params) as trigger,
        drift_service(
            "--models", str(serve_home / "served_models"),
            "--trigger-url", trigger.url,
            "--window", str(WINDOW),
            "--every", str(WINDOW),
        ) as drift,
        model_server(
            "--model_uri", f"models:/{MODEL_NAME}/{summary.model_version}",
            "--max_request_rows", str(ROWS_PER_CALL),
            "--logger_url", f"{drift.url}/",
            env=serve_env,
        ) as server,
    ):  # fmt: skip
        with httpx.Client(base_url=server.http, timeout=30) as client:
            for call in autumn_calls:
                answer = client.post(f"/v1/models/{MODEL_NAME}:predict", json=call)
                assert answer.status_code == 200, answer.text

        detected = wait_until(
            lambda: drift.metric("sluice_drift_detected", model_version=summary.model_version),
            120,
            "drift detected for the served version",
        )
        assert detected == 1
        audit = wait_until(
            lambda: [
                orjson.loads(line)
                for line in httpx.get(f"{trigger.url}/v1/audit", timeout=5).text.splitlines()
            ],
            60,
            "the trigger's decision",
        )
        assert [(e["source"], e["decision"]) for e in audit] == [("drift", "started")]
        assert audit[0]["run_id"].startswith("local-")
        assert drift.metric("sluice_drift_trigger_calls_total", decision="started") == 1

        registry = MlflowClient(f"sqlite:///{retrain_home / 'mlflow.db'}")

        def challenger():
            try:
                return registry.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
            except Exception:  # the run has not made the registry, or the version, yet
                return None

        version = wait_until(challenger, 420, "the retrained challenger", every=3)
        assert str(version.version) == "1"
        (log,) = (retrain_home / "trigger").glob("retrain-*.log")
        wait_until(lambda: "succeeded" in log.read_text(), 120, "the run's end", every=2)


def test_a_local_run_closes_with_the_holdouts_drift_against_the_training_reference(january_run):
    """What `make run` prints last: the model's holdout days against its training rows."""
    from pipelines.cli.drift import drift_python, holdout_drift

    if not drift_python().is_file():
        missing("no drift environment: `make venv-drift` makes it")
    summary, _ = january_run
    result = holdout_drift(summary)
    holdout = pd.read_parquet(Path(summary.run_dir) / "drift" / "holdout.parquet")
    assert result["rows_current"] == len(holdout) > 0
    assert result["rows_reference"] == len(
        ModelArtifact(summary.training["model_path"]).metadata.reference_sample["temp"]
    )
    assert "month" in result["excluded"] and result["features"]
    report = Path(summary.run_dir) / "drift" / "drift.html"
    assert report.read_text().startswith("<!doctype html>")
