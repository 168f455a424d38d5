"""Register: log the run to MLflow and register the model as a new version, aliased
`challenger`. Idempotent per pipeline run: a retried task finds its version by tag."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from components.base.contract.artifact import ModelArtifact
from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import INPUT_NAMES, METADATA_FILE, MODEL_NAME
from components.base.registry import CHALLENGER, RUN_ID_TAG, client

EXPERIMENT = MODEL_NAME


@dataclass
class RegisterResult:
    model_name: str
    version: str
    alias: str
    reused: bool
    mlflow_run_id: str
    model_uri: str
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def git_commit() -> str:
    """The commit the code came from: SLUICE_GIT_COMMIT (set in images), else git."""
    if os.environ.get("SLUICE_GIT_COMMIT"):
        return os.environ["SLUICE_GIT_COMMIT"]
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return done.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def existing_version(mlflow_client, pipeline_run_id: str):
    versions = mlflow_client.search_model_versions(
        f"name = '{MODEL_NAME}' and tags.`{RUN_ID_TAG}` = '{pipeline_run_id}'"
    )
    return versions[0] if versions else None


def _logged_model_id(version) -> str:
    """The logged model behind a version: SQL registries keep it only in the version's
    source (`models:/m-...`)."""
    if version.model_id:
        return version.model_id
    match = re.fullmatch(r"models:/(m-[0-9a-f]+)", version.source or "")
    if match is None:
        raise RuntimeError(
            f"{version.name} version {version.version}: its source {version.source!r} is "
            "no logged model, so its artifacts cannot be given its version"
        )
    return match.group(1)


def stamp_version(mlflow_client, model_id: str, version: str, model_dir: Path) -> None:
    """`metadata.json` with the registry's version, at the root of the version's model
    artifacts (beside MLflow's `extra_files/` copy, which it takes precedence over): a
    server loading what a storage initializer copied (KServe's /mnt/models), with no
    registry to ask, reports the version in every answer and metric. Idempotent."""
    metadata = replace(ModelMetadata.read(model_dir), model_version=version)
    with tempfile.TemporaryDirectory() as scratch:
        mlflow_client.log_model_artifact(model_id, str(metadata.write(scratch)))


def _input_example(model: ModelArtifact) -> dict[str, np.ndarray]:
    sample = model.metadata.reference_sample
    import pandas as pd

    frame = pd.DataFrame(sample).head(200)
    complete = frame[frame[model.layout.numeric].notna().all(axis=1)]
    frame = (complete if len(complete) >= 3 else frame).head(3)
    categorical, _ = model.layout.encode_categorical(frame)
    numeric = np.nan_to_num(model.layout.numeric_matrix(frame))
    return dict(zip(INPUT_NAMES, (categorical, numeric), strict=True))


def _flat_metrics(evaluation: dict) -> dict[str, float]:
    metrics = {f"holdout_{k}": v for k, v in evaluation["metrics"].items()}
    for name, values in evaluation["baselines"].items():
        metrics.update({f"{name}_{k}": v for k, v in values.items()})
    metrics["slice_gap"] = evaluation["slice_gap"]
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and v == v}


def run(
    model_dir: Path,
    evaluation: dict,
    tracking_uri: str,
    pipeline_run_id: str,
    lineage: dict,
    params: dict,
    reports: dict[str, Path],
    artifact_root: str | None = None,
) -> RegisterResult:
    import mlflow
    import onnx
    from mlflow.models import infer_signature

    started = time.perf_counter()
    mlflow_client = client(tracking_uri)
    found = existing_version(mlflow_client, pipeline_run_id)
    if found is not None:  # a retry: finish what the first attempt may have left undone
        stamp_version(mlflow_client, _logged_model_id(found), str(found.version), Path(model_dir))
        mlflow_client.set_registered_model_alias(MODEL_NAME, CHALLENGER, found.version)
        return RegisterResult(
            MODEL_NAME,
            str(found.version),
            CHALLENGER,
            True,
            found.run_id or "",
            f"models:/{MODEL_NAME}/{found.version}",
            round(time.perf_counter() - started, 3),
        )

    model = ModelArtifact(model_dir)
    example = _input_example(model)
    signature = infer_signature(example, model.predict_arrays(**example))
    if mlflow_client.get_experiment_by_name(EXPERIMENT) is None:
        mlflow_client.create_experiment(EXPERIMENT, artifact_location=artifact_root)
    mlflow.set_experiment(EXPERIMENT)
    tags = {
        RUN_ID_TAG: pipeline_run_id,
        "sluice.git_commit": git_commit(),
        **{f"sluice.{k}": str(v) for k, v in lineage.items()},
    }
    with mlflow.start_run(run_name=f"train-{pipeline_run_id}", tags=tags) as active:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics(_flat_metrics(evaluation))
        for name, path in reports.items():
            if Path(path).is_file():
                mlflow.log_artifact(str(path), artifact_path=f"reports/{name}")
        mlflow.log_dict(evaluation, "evaluation.json")
        logged = mlflow.onnx.log_model(
            onnx.load(str(Path(model_dir) / model.metadata.model_file)),
            name="model",
            signature=signature,
            input_example=example,
            extra_files=[str(Path(model_dir) / METADATA_FILE)],
            save_as_external_data=False,
            registered_model_name=MODEL_NAME,
            tags={RUN_ID_TAG: pipeline_run_id},
        )
        run_id = active.info.run_id
    version = str(logged.registered_model_version)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(MODEL_NAME, version, key, value)
    mlflow_client.set_model_version_tag(
        MODEL_NAME, version, "sluice.holdout_auc", f"{evaluation['holdout_auc']:.5f}"
    )
    stamp_version(mlflow_client, logged.model_id, version, Path(model_dir))
    mlflow_client.set_registered_model_alias(MODEL_NAME, CHALLENGER, version)
    return RegisterResult(
        MODEL_NAME,
        version,
        CHALLENGER,
        False,
        run_id,
        f"models:/{MODEL_NAME}/{version}",
        round(time.perf_counter() - started, 3),
    )
