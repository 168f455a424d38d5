"""Resolve where a served model lives: a local directory, KServe's `/mnt/models`, or an
MLflow registry reference (`models:/sluice-flights@champion`, `models:/sluice-flights/3`)."""

from __future__ import annotations

from pathlib import Path

from components.base.contract.names import version_directory


class ModelNotFound(LookupError):
    """A model reference that names no model: a directory that does not exist, an alias or
    a version the registry does not hold."""


NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
"""MLflow's error codes for a model, alias or version it does not hold (an unknown alias
is an invalid parameter)."""


def resolve_model(uri: str, tracking_uri: str, cache_dir: Path) -> tuple[Path, str | None]:
    """The model directory and, for a registry reference, the registered version."""
    if not uri.startswith("models:/"):
        path = Path(uri)
        if not path.is_dir():
            raise ModelNotFound(f"model directory {uri!r} does not exist")
        return path, None
    from mlflow.exceptions import MlflowException

    from components.base.registry import client, download_version

    name, _, ref = uri.removeprefix("models:/").partition("@")
    mlflow_client = client(tracking_uri)
    try:
        if ref:  # alias
            version = mlflow_client.get_model_version_by_alias(name, ref)
        else:
            name, _, number = uri.removeprefix("models:/").partition("/")
            version = mlflow_client.get_model_version(name, number)
    except MlflowException as exc:
        if exc.error_code in NOT_FOUND:
            raise ModelNotFound(f"{uri}: {exc.message}") from None
        raise
    destination = Path(cache_dir) / version_directory(name, str(version.version))
    if not destination.is_dir():
        download_version(mlflow_client, version, destination)
    return destination, str(version.version)
