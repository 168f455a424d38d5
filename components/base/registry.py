"""MLflow registry access shared by evaluate, register, the CLI and serving."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from components.base.contract.names import MODEL_NAME
from components.base.services import ServiceUnavailable, with_retries

RUN_ID_TAG = "sluice.pipeline_run_id"
CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
"""The registry's aliases: the version in production, the newest that passed the gate, and
the champion before the last promotion."""
log = logging.getLogger(__name__)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


MLFLOW_HINT = "credentials come from MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"


class RegistryUnavailable(ServiceUnavailable):
    """The tracking server could not be reached after retries."""


@contextmanager
def tracking(tracking_uri: str) -> Iterator[None]:
    """MLflow's global tracking URI, for its fluent calls, only while they run: setting it
    also sets MLFLOW_TRACKING_URI in this process's environment, which every task and
    server started from here afterwards would inherit."""
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def client(tracking_uri: str, attempts: int = 4, max_wait_s: float = 8.0):
    """An MlflowClient whose server answered, retried with exponential backoff."""
    from mlflow.tracking import MlflowClient

    if tracking_uri.startswith("http"):  # and each request retried by MLflow itself: briefly
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow_client = MlflowClient(tracking_uri=tracking_uri)
    with_retries(
        "MLflow tracking server",
        tracking_uri,
        lambda: mlflow_client.search_experiments(max_results=1),
        attempts=attempts,
        max_wait_s=max_wait_s,
        hint=MLFLOW_HINT if tracking_uri.startswith("http") else "",
        error=RegistryUnavailable,
    )
    return mlflow_client


def alias_version(mlflow_client, alias: str, name: str = MODEL_NAME):
    """The model version holding `alias`, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def download_version(mlflow_client, version, destination: Path) -> Path:
    """A registered version's model directory (model.onnx + metadata.json)."""
    import mlflow

    with tracking(mlflow_client.tracking_uri):  # the version's source resolves through it
        return Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{version.name}/{version.version}",
                dst_path=str(destination),
            )
        )


def storage_uri(mlflow_client, version: str, artifacts_uri: str | None = None) -> str:
    """Where a version's model directory lives in the artifact store: what KServe's storage
    initializer copies to /mnt/models."""
    with tracking(mlflow_client.tracking_uri):
        uri = mlflow_client.get_model_version_download_uri(MODEL_NAME, version)
    return in_artifact_store(uri, artifacts_uri)


class ArtifactLocationError(ValueError):
    """A registered artifact's location that no storage initializer could read."""


def in_artifact_store(uri: str, artifacts_uri: str | None) -> str:
    """`mlflow-artifacts:/…`, from a tracking server that proxies artifacts, as the object
    store location under its `--artifacts-destination` (`artifacts_uri`); others as they
    are."""
    if not uri.startswith("mlflow-artifacts:"):
        return uri
    if not artifacts_uri:
        raise ArtifactLocationError(
            f"{uri}: the tracking server proxies its artifacts; set SLUICE_MLFLOW_ARTIFACTS_URI "
            "to its --artifacts-destination (s3://bucket/prefix)"
        )
    return f"{artifacts_uri.rstrip('/')}/{urlsplit(uri).path.lstrip('/')}"
