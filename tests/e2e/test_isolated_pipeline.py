"""The cluster path, proved on one machine: every task runs as a pod (alone, in an empty
home deleted when it ends), sharing state only through KFP artifacts and real services on
loopback: PostgreSQL (MLflow's backend store, Feast's SQL registry), Redis (the online
store), moto's S3 server (snapshots, feature data, Ray checkpoints, MLflow artifacts) and an
MLflow tracking server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import httpx
import pytest

from components.base.contract.names import MODEL_NAME
from components.base.registry import client
from components.base.settings import Settings
from pipelines.local import run_pipeline
from serving.process import model_server
from tests.conftest import write_slice
from tests.e2e.conftest import JANUARY_ARGUMENTS
from tests.integration.helpers import FLIGHTS, metric_samples
from tests.services import BUCKET, S3_KEYS, shared_services

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture(scope="module")
def services():
    with shared_services() as running:
        yield running


@pytest.fixture(scope="module")
def two_isolated_runs(services, tmp_path_factory):
    """Run 1 registers version 1; `sluice promote` makes it champion; run 2 is evaluated
    against that champion, as read from the tracking server."""
    root = tmp_path_factory.mktemp("isolated")
    source = write_slice(root / "source", {1})
    settings = Settings(home=root / "home")
    arguments = {"source": str(source), **JANUARY_ARGUMENTS}
    first = run_pipeline(settings, arguments, pods=services.env)
    promoted = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "promote", str(first.model_version)],
        env={**os.environ, **services.env, "SLUICE_HOME": str(root / "cli")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    second = run_pipeline(settings, arguments, pods=services.env)
    return first, promoted, second, settings


@pytest.mark.timeout(900)
def test_isolated_runs_share_state_only_through_artifacts_and_services(services, two_isolated_runs):
    first, promoted, second, settings = two_isolated_runs
    assert first.status == "succeeded", first.message
    assert first.isolated and first.model_version == "1"
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert second.status == "succeeded", second.message
    # The snapshot was found in the bucket, not on a disk the first run's pods had.
    assert second.ingest["reused"] is True
    assert second.ingest["snapshot_dir"].startswith(f"s3://{BUCKET}/snapshots/")
    champion = second.evaluation["champion"]
    assert champion["version"] == "1" and second.model_version == "2"
    # Nothing of the pods' state landed in the runner's home: only the runs' bookkeeping.
    assert sorted(p.name for p in settings.home.iterdir()) == ["runs"]

    s3 = boto3.client(
        "s3",
        endpoint_url=services.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    version = first.data_version
    assert f"snapshots/{version}/manifest.json" in keys
    assert f"features/{version}/weather_hourly.parquet" in keys  # a prefix per data version
    assert any(k.startswith("ray/train-") and "checkpoint" in k for k in keys)
    assert any(k.startswith("mlartifacts/") and k.endswith("model.onnx") for k in keys)

    # Training is the version's MLflow run: params, per-epoch curves, the data it read.
    registry = client(services.tracking_uri)
    version_1 = registry.get_model_version(MODEL_NAME, "1")
    assert version_1.tags["sluice.data_version"] == version
    run = registry.get_run(version_1.run_id)
    assert run.data.params["epochs"] == "4"
    epochs = registry.get_metric_history(run.info.run_id, "val_auc")
    assert [m.step for m in epochs] == list(range(first.training["epochs_run"]))
    assert run.data.metrics["holdout_roc_auc"] == pytest.approx(first.holdout_auc)
    assert [i.dataset.digest for i in run.inputs.dataset_inputs] == [version]
    assert run.data.tags["sluice.gate"] == "passed"


@pytest.mark.timeout(300)
def test_a_fresh_server_serves_the_champion_with_features_from_the_shared_stores(
    services, two_isolated_runs, tmp_path
):
    """The transformer, started in its own empty home, finds the feature service in the
    SQL registry and the features in Redis; the predictor loads the champion from the
    tracking server."""
    home = tmp_path / "empty"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "MLFLOW_"))},
        **services.env,
        "HOME": str(home),
        "SLUICE_HOME": str(home / ".sluice"),
    }
    with model_server(
        "--mode",
        "combined",
        "--model_uri",
        f"models:/{MODEL_NAME}@champion",
        env=env,
        timeout=180,
    ) as server:
        before = metric_samples(server.http)
        response = httpx.post(
            f"{server.http}/v1/models/{MODEL_NAME}:predict", json={"instances": FLIGHTS[:1]}
        )
        change = metric_samples(server.http)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_version"] == "1"
    assert 0.0 < answer["predictions"][0] < 1.0
    change.subtract(before)
    defaults = "sluice_feature_defaults_total"
    for feature in (
        "temp",
        "origin_departures",
        "plane_year",
        "carrier_delay_rate_7d",
        "route_delay_rate_28d",
    ):
        assert change[(defaults, (("feature", feature),))] == 0, feature  # all from Redis
    assert not list(Path(home).glob("**/registry.db"))  # the registry is PostgreSQL's
