"""A two-trial Ray Tune sweep in the pipeline, on the January slice: each trial a nested
MLflow run under the training run, and the model the best trial's."""

from pathlib import Path

import pytest

from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import MODEL_NAME
from components.base.registry import client
from components.base.settings import Settings
from components.base.tracking import PARENT_TAG
from components.train.search_space import HYPERPARAMETERS, TUNED_FIELDS, hyperparameters
from pipelines.local import run_pipeline
from tests.conftest import write_slice
from tests.e2e.conftest import JANUARY_ARGUMENTS

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(300)
def test_a_two_trial_sweep_logs_nested_runs_and_its_best_trial_is_the_model(tmp_path):
    source = write_slice(tmp_path / "source", {1})
    settings = Settings(home=tmp_path / "home")
    arguments = {**JANUARY_ARGUMENTS, "epochs": 2, "tune_trials": 2}
    summary = run_pipeline(settings, {"source": str(source), **arguments})
    assert summary.status == "succeeded", summary.message

    metadata = ModelMetadata.read(Path(summary.training["model_path"])).extra
    registry = client(settings.tracking_uri)
    experiment = registry.get_experiment_by_name(MODEL_NAME).experiment_id
    parent = registry.get_run(metadata["mlflow_run_id"])
    trials = registry.search_runs(
        [experiment], filter_string=f"tags.`{PARENT_TAG}` = '{parent.info.run_id}'"
    )
    assert len(trials) == 2
    points = [{k: t.data.params[k] for k in HYPERPARAMETERS} for t in trials]
    scores = [t.data.metrics["best_val_loss"] for t in trials]
    assert points[0] != points[1] and scores[0] != scores[1]
    assert all(t.data.metrics["val_auc"] > 0.5 for t in trials)
    best = trials[scores.index(min(scores))]

    # The model's recorded hyperparameters, the parent run's and the best trial's agree.
    chosen = hyperparameters(best.data.params)
    recorded = metadata["training"]["hyperparameters"]
    assert recorded == {k: list(v) if k == "hidden" else v for k, v in chosen.items()}
    assert {k: parent.data.params[k] for k in TUNED_FIELDS} == {
        k: str(v) for k, v in chosen.items()
    }
    tuning = summary.training["tuning"]
    assert tuning["trials"] == 2 and tuning["best_mlflow_run_id"] == best.info.run_id
    assert tuning["best_score"] == pytest.approx(min(scores))
    assert summary.training["best_val_loss"] == pytest.approx(min(scores))
    assert summary.model_version == "1"
