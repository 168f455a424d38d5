"""Tune trials: how one is scored and read, and how trials are logged as nested MLflow
runs (a real MLflow store, SQLite)."""

import math

import pytest

from components.base.registry import client
from components.base.tracking import PARENT_TAG, TRIAL_TAG, log_trials, pipeline_run
from components.train.tuning import Trial

POINT = {"lr": 0.002, "width": 64, "depth": 1, "embedding_dim": 8, "dropout": 0.1}


def _epochs(losses, stopped_at=None):
    return [
        {"epoch": i, "val_loss": loss, "val_auc": 0.7 + i / 100, "stopped": i == stopped_at}
        for i, loss in enumerate(losses)
    ]


def test_a_trial_scores_its_lowest_validation_loss_and_knows_who_stopped_it():
    finished = Trial("a", POINT, _epochs([0.5, 0.4, 0.45], stopped_at=2), "/ckpt")
    cut = Trial("b", POINT, _epochs([0.6]), "/ckpt")
    failed = Trial("c", POINT, [], None, error="boom")
    broke = Trial("d", POINT, _epochs([0.6]), "/ckpt", error="worker died")
    assert finished.score == 0.4 and not finished.stopped_early
    assert cut.score == 0.6 and cut.stopped_early  # ASHA stopped it: no stop of its own
    assert math.isinf(failed.score) and not failed.stopped_early
    assert not broke.stopped_early  # an error is not ASHA


@pytest.fixture
def tracked(tmp_path):
    mlflow = client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return mlflow, pipeline_run(mlflow, "p1", {}, (tmp_path / "artifacts").as_uri())


def test_trials_are_nested_runs_of_the_training_run_logged_once(tracked):
    mlflow, parent = tracked
    trials = [
        Trial("t0", POINT | {"batch_size": 512}, _epochs([0.5, 0.4], stopped_at=1), "/c0"),
        Trial("t1", POINT | {"batch_size": 2048}, _epochs([0.7]), "/c1"),
        Trial("t2", POINT | {"batch_size": 256}, [], None, error="worker died"),
    ]
    runs = log_trials(mlflow, parent, [t.record() for t in trials])
    assert set(runs) == {"t0", "t1", "t2"} and parent not in runs.values()
    for trial in trials:
        run = mlflow.get_run(runs[trial.trial_id])
        assert run.data.tags[PARENT_TAG] == parent
        assert run.data.tags[TRIAL_TAG] == trial.trial_id
        assert run.data.params == {k: str(v) for k, v in trial.point.items()}
    t0, t1, t2 = (mlflow.get_run(runs[t]) for t in ("t0", "t1", "t2"))
    assert t0.data.metrics["best_val_loss"] == 0.4 and t1.data.metrics["best_val_loss"] == 0.7
    history = mlflow.get_metric_history(runs["t0"], "val_loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.4)]
    assert (t0.data.tags["sluice.stopped_early"], t1.data.tags["sluice.stopped_early"]) == (
        "false",
        "true",
    )
    assert (t0.info.status, t2.info.status) == ("FINISHED", "FAILED")
    assert "best_val_loss" not in t2.data.metrics and t2.data.tags["sluice.error"] == "worker died"
    # A retried task logs the same trials again: nothing new.
    assert log_trials(mlflow, parent, [t.record() for t in trials]) == runs
    experiment = mlflow.get_run(parent).info.experiment_id
    assert len(mlflow.search_runs([experiment])) == 4
    assert pipeline_run(mlflow, "p1", {}) == parent  # the training run is still found
