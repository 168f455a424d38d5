"""Register: log the model into the pipeline run's MLflow run and register it as a new
version, aliased `challenger`. Idempotent per pipeline run: a retried task finds its
version by the tag it was created with."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pandas as pd

from components.base.contract.artifact import ModelArtifact
from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import (
    METADATA_FILE,
    MODEL_NAME,
    OUTPUT_NAME,
    UNSEEN_OUTPUT,
)
from components.base.registry import CHALLENGER, RUN_ID_TAG, client, tracking
from components.base.tracking import pipeline_run


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


def _input_example(model: ModelArtifact) -> pd.DataFrame:
    """Three raw training rows, complete where the sample has such (JSON has no NaN), typed
    as a caller sends them: text, and float64, which MLflow's signature calls `double` and
    so accepts integers and float32 too."""
    frame = pd.DataFrame(model.metadata.reference_sample).head(200)
    complete = frame[frame[model.layout.numeric].notna().all(axis=1)]
    frame = (complete if len(complete) >= 3 else frame).head(3).reset_index(drop=True)
    types = {name: str for name in model.layout.categorical}
    return frame[model.layout.features].astype(types | dict.fromkeys(model.layout.numeric, float))


def _logged_model(mlflow_client, run_id: str):
    """The model a previous attempt logged into this run and finished uploading."""
    experiment = mlflow_client.get_run(run_id).info.experiment_id
    found = mlflow_client.search_logged_models(
        [experiment], filter_string=f"source_run_id = '{run_id}' AND name = 'model'"
    )
    ready = [m for m in found if str(m.status).upper().endswith("READY")]
    return ready[0] if ready else None


def _log_model(model: ModelArtifact, model_dir: Path, run_id: str, pipeline_run_id: str):
    import mlflow
    import onnx
    from mlflow.models import infer_signature

    example = _input_example(model)
    probability, unseen = model.predict_arrays(*model.layout.arrays(example))
    outputs = pd.DataFrame({OUTPUT_NAME: probability, UNSEEN_OUTPUT: unseen})
    signature = infer_signature(example, outputs)  # the pyfunc's answer for a frame
    with mlflow.start_run(run_id=run_id):
        return mlflow.onnx.log_model(
            onnx.load(str(Path(model_dir) / model.metadata.model_file)),
            name="model",
            signature=signature,
            input_example=example,
            extra_files=[str(Path(model_dir) / METADATA_FILE)],
            save_as_external_data=False,
            tags={RUN_ID_TAG: pipeline_run_id},
        )


def _registered_model(mlflow_client) -> None:
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(MODEL_NAME)
    except MlflowException:
        try:
            mlflow_client.create_registered_model(MODEL_NAME)
        except MlflowException:  # created meanwhile
            mlflow_client.get_registered_model(MODEL_NAME)


def run(
    model_dir: Path,
    evaluation: dict,
    tracking_uri: str,
    pipeline_run_id: str,
    lineage: dict,
    artifact_root: str | None = None,
) -> RegisterResult:
    """Log the model into the pipeline run's MLflow run and create its version, with its
    identity (pipeline run, data version, git commit) in the one call that creates it.

    Each write is safe to repeat, and the version is found by its pipeline-run tag, so a
    retry after a crash at any point leaves exactly one version, with its artifacts, its
    stamped metadata and the `challenger` alias."""
    started = time.perf_counter()
    model_dir = Path(model_dir)
    mlflow_client = client(tracking_uri)
    model = ModelArtifact(model_dir)
    # MLflow resolves a version's source through its global tracking URI
    with tracking(tracking_uri):
        version = existing_version(mlflow_client, pipeline_run_id)
        reused = version is not None
        if version is None:
            identity = {
                "sluice.git_commit": git_commit(),
                **{f"sluice.{k}": str(v) for k, v in lineage.items()},
            }
            run_id = model.metadata.extra.get("mlflow_run_id") or pipeline_run(
                mlflow_client, pipeline_run_id, identity, artifact_root
            )
            logged = _logged_model(mlflow_client, run_id) or _log_model(
                model, model_dir, run_id, pipeline_run_id
            )
            _registered_model(mlflow_client)
            version = mlflow_client.create_model_version(
                MODEL_NAME,
                source=f"models:/{logged.model_id}",
                run_id=run_id,
                model_id=logged.model_id,
                tags={
                    RUN_ID_TAG: pipeline_run_id,
                    **identity,
                    "sluice.holdout_auc": f"{evaluation['holdout_auc']:.5f}",
                },
            )
        number = str(version.version)
        stamp_version(mlflow_client, _logged_model_id(version), number, model_dir)
        mlflow_client.set_registered_model_alias(MODEL_NAME, CHALLENGER, number)
    return RegisterResult(
        MODEL_NAME,
        number,
        CHALLENGER,
        reused,
        version.run_id or "",
        f"models:/{MODEL_NAME}/{number}",
        round(time.perf_counter() - started, 3),
    )
