"""MLflow registry access shared by evaluate, register, the CLI and serving."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from components.base.contract.names import MODEL_NAME
from components.base.masking import masked, scrubbed

RUN_ID_TAG = "sluice.pipeline_run_id"
CHAMPION, CHALLENGER = "champion", "challenger"
"""The registry's aliases: the version in production, and the newest that passed the gate."""
log = logging.getLogger(__name__)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class RegistryUnavailable(RuntimeError):
    """The tracking server could not be reached after retries."""


def client(tracking_uri: str, attempts: int = 4, max_wait_s: float = 8.0):
    """An MlflowClient whose server answered, retried with exponential backoff."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    if tracking_uri.startswith("http"):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    mlflow_client = MlflowClient(tracking_uri=tracking_uri)
    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=max_wait_s),
            retry=retry_if_exception_type(Exception),
            reraise=False,
        ):
            with attempt:
                mlflow_client.search_experiments(max_results=1)
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise RegistryUnavailable(
            f"MLflow tracking server {masked(tracking_uri)} unreachable after {attempts} "
            f"attempts: {type(cause).__name__}: {scrubbed(str(cause), tracking_uri)[:200]}"
        ) from None
    return mlflow_client


def alias_version(mlflow_client, alias: str, name: str = MODEL_NAME):
    """The model version holding `alias`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def download_version(version, destination: Path) -> Path:
    """A registered version's model directory (model.onnx + metadata.json)."""
    import mlflow

    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{version.name}/{version.version}", dst_path=str(destination)
        )
    )
