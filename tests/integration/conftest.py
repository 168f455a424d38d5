"""Fixtures shared by the serving and transformer tests: a model trained on the January
slice, and the same model registered the way the pipeline registers it."""

import os

import pandas as pd
import pytest

from components.base.contract.artifact import ModelArtifact
from components.base.splits import TimeSplit
from components.evaluate import GateConfig
from components.evaluate import run as evaluate
from components.flights.schema import TIMEZONE
from components.register import run as register
from components.train import TrainParams
from components.train import run as train
from serving.process import model_server
from tests.conftest import frame_features

JANUARY = TimeSplit(TIMEZONE, "2013-01-20", "2013-01-25")


@pytest.fixture(scope="package")
def model_dir(slice_training_frame, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    params = TrainParams(epochs=3, launcher="single-process", split=JANUARY)
    train(
        slice_training_frame,
        frame_features(slice_training_frame),
        root / "model",
        root / "ray",
        "served",
        params,
    )
    return root / "model"


@pytest.fixture(scope="package")
def registered(slice_training_frame, model_dir, tmp_path_factory) -> dict:
    """Evaluated and registered as the pipeline does it, in a SQLite MLflow: the registry
    numbers the version, and a server given `models:/NAME/VERSION` reports it. Also the
    environment a server needs to find it."""
    root = tmp_path_factory.mktemp("registry")
    evaluation = evaluate(
        slice_training_frame, model_dir, root / "report.html", GateConfig(min_auc=0.5)
    )
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    result = register(
        model_dir=model_dir,
        evaluation=evaluation.to_dict(),
        tracking_uri=tracking_uri,
        pipeline_run_id="integration",
        lineage={"data_version": "january"},
        artifact_root=(root / "artifacts").as_uri(),
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "SLUICE_HOME": str(root / "home")}
    return {"model_uri": result.model_uri, "version": result.version, "env": env}


@pytest.fixture(scope="package")
def server(registered):
    """The registered model, as a cluster serves it: by its registry reference."""
    with model_server(
        "--model_uri", registered["model_uri"], "--max_request_rows", "100", env=registered["env"]
    ) as running:
        yield running


@pytest.fixture(scope="package")
def rows(slice_training_frame, model_dir) -> pd.DataFrame:
    """The last 64 flights of the January frame, as feature rows."""
    features = ModelArtifact(model_dir).layout.features
    return pd.read_parquet(slice_training_frame).tail(64)[features].reset_index(drop=True)
