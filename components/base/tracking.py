"""One MLflow run per pipeline run: training opens it (hyperparameters, per-epoch curves,
the data it read), evaluation adds its metrics, gate and reports, registration logs the
model into it. A challenger that fails the gate leaves its run, evaluation included, and
no model version. A hyperparameter search logs each trial as a run nested under it.

The run is found by its pipeline-run tag, set when it is created, so a retried task
continues the same run instead of opening another."""

from __future__ import annotations

import json
import math
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from components.base.contract.names import MODEL_NAME
from components.base.registry import RUN_ID_TAG

EXPERIMENT = MODEL_NAME
GATE_TAG = "sluice.gate"
TRIAL_TAG = "sluice.tune_trial"
PARENT_TAG = "mlflow.parentRunId"  # what makes MLflow show a run nested under another
EPOCH_METRICS = ("train_loss", "val_loss", "train_auc", "val_auc")


def experiment_id(mlflow_client, artifact_root: str | None = None) -> str:
    """The experiment's id, created on first use (`artifact_root`: where its artifacts go
    with a local store; a tracking server decides for itself)."""
    from mlflow.exceptions import MlflowException

    found = mlflow_client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    try:
        return mlflow_client.create_experiment(EXPERIMENT, artifact_location=artifact_root)
    except MlflowException:  # another task created it meanwhile
        return mlflow_client.get_experiment_by_name(EXPERIMENT).experiment_id


def pipeline_run(
    mlflow_client, pipeline_run_id: str, tags: dict[str, str], artifact_root: str | None = None
) -> str:
    """The MLflow run of this pipeline run: found by its tag, else created with it."""
    experiment = experiment_id(mlflow_client, artifact_root)
    found = mlflow_client.search_runs(
        [experiment], filter_string=f"tags.`{RUN_ID_TAG}` = '{pipeline_run_id}'", max_results=1
    )
    if found:
        return found[0].info.run_id
    created = mlflow_client.create_run(
        experiment, run_name=f"train-{pipeline_run_id}", tags={RUN_ID_TAG: pipeline_run_id, **tags}
    )
    return created.info.run_id


def log_training(
    mlflow_client,
    run_id: str,
    params: dict,
    history: Iterable[dict],
    data_version: str,
    data_uri: str,
) -> None:
    """Hyperparameters as params, each epoch's curves as metrics at step = epoch, and the
    training frame as the run's dataset input, named by its data version. A retried task
    logs only what the run does not have yet."""
    from mlflow.entities import Param

    logged = {m.step for m in mlflow_client.get_metric_history(run_id, EPOCH_METRICS[1])}
    mlflow_client.log_batch(
        run_id,
        metrics=_epoch_metrics(history, logged),
        params=[Param(k, str(v)[:500]) for k, v in params.items()],
    )
    inputs = mlflow_client.get_run(run_id).inputs.dataset_inputs
    if not any(i.dataset.digest == data_version for i in inputs):
        mlflow_client.log_inputs(run_id, datasets=[_dataset_input(data_version, data_uri)])


def _epoch_metrics(history: Iterable[dict], logged: set[int] = frozenset()) -> list:
    """Each epoch's curves as MLflow metrics at step = epoch, but for the `logged` epochs."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [
        Metric(name, float(value), now, int(epoch["epoch"]))
        for epoch in history
        if int(epoch["epoch"]) not in logged
        for name, value in epoch.items()
        if name in EPOCH_METRICS and isinstance(value, int | float) and value == value
    ]


def log_trials(mlflow_client, parent_run_id: str, trials: Iterable[dict]) -> dict[str, str]:
    """Each trial of a hyperparameter search (`trial_id`, `params`, `history`, `score`,
    `stopped_early`, `error`) as a run nested under the training run: its point as params,
    each epoch's curves, its score, and whether ASHA stopped it early. A retried task finds
    the trials it logged by their tag and logs each once. Returns trial id → run id."""
    from mlflow.entities import Metric, Param, RunStatus

    experiment = mlflow_client.get_run(parent_run_id).info.experiment_id
    children = mlflow_client.search_runs(
        [experiment], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'"
    )
    runs = {r.data.tags[TRIAL_TAG]: r.info.run_id for r in children if TRIAL_TAG in r.data.tags}
    now = int(time.time() * 1000)
    for trial in trials:
        if trial["trial_id"] in runs:
            continue
        run_id = mlflow_client.create_run(
            experiment,
            run_name=f"trial-{trial['trial_id']}",
            tags={
                PARENT_TAG: parent_run_id,
                TRIAL_TAG: trial["trial_id"],
                "sluice.stopped_early": str(trial["stopped_early"]).lower(),
            },
        ).info.run_id
        score = [Metric(k, v, now, 0) for k, v in trial["score"].items() if math.isfinite(v)]
        mlflow_client.log_batch(
            run_id,
            metrics=_epoch_metrics(trial["history"]) + score,
            params=[Param(k, str(v)) for k, v in trial["params"].items()],
        )
        if trial["error"]:
            mlflow_client.set_tag(run_id, "sluice.error", trial["error"][:5000])
        status = RunStatus.FAILED if trial["error"] else RunStatus.FINISHED
        mlflow_client.set_terminated(run_id, RunStatus.to_string(status))
        runs[trial["trial_id"]] = run_id
    return runs


def _dataset_input(data_version: str, data_uri: str):
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput, InputTag

    try:
        source = resolve_dataset_source(data_uri)
    except Exception:  # a URI no registered source understands
        source = CodeDatasetSource(tags={"uri": data_uri})
    dataset = MetaDataset(source, name="training_frame", digest=data_version)
    return DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])


def evaluation_metrics(evaluation: dict) -> dict[str, float]:
    """An evaluation (`EvaluateResult.to_dict()`) as flat MLflow metrics."""
    metrics = {f"holdout_{k}": v for k, v in evaluation["metrics"].items()}
    for name, values in evaluation["baselines"].items():
        metrics.update({f"{name}_{k}": v for k, v in values.items()})
    if evaluation.get("champion") and "roc_auc" in evaluation["champion"]:
        metrics["champion_roc_auc"] = evaluation["champion"]["roc_auc"]
    metrics["slice_gap"] = evaluation["slice_gap"]
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and v == v}


def log_evaluation(mlflow_client, run_id: str, evaluation: dict, reports: dict[str, Path]) -> None:
    """The evaluation's metrics, the gate's verdict as a tag, `evaluation.json` and the
    reports (HTML), all on the training run."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = evaluation_metrics(evaluation)
    mlflow_client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()])
    mlflow_client.set_tag(run_id, GATE_TAG, "passed" if evaluation["passed"] else "failed")
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "evaluation.json"
        path.write_text(json.dumps(evaluation, indent=2, default=str))
        mlflow_client.log_artifact(run_id, str(path))
    for name, report in reports.items():
        if Path(report).is_file():
            mlflow_client.log_artifact(run_id, str(report), artifact_path=f"reports/{name}")
