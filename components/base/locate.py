"""Resolve where a served model lives: a local directory, KServe's `/mnt/models`, or an
MLflow registry reference (`models:/sluice-flights@champion`, `models:/sluice-flights/3`)."""

from __future__ import annotations

from pathlib import Path

from components.base.contract.names import version_directory


def resolve_model(uri: str, tracking_uri: str, cache_dir: Path) -> tuple[Path, str | None]:
    """The model directory and, for a registry reference, the registered version."""
    if not uri.startswith("models:/"):
        path = Path(uri)
        if not path.is_dir():
            raise FileNotFoundError(f"model directory {uri!r} does not exist")
        return path, None
    from components.base.registry import client, download_version

    name, _, ref = uri.removeprefix("models:/").partition("@")
    mlflow_client = client(tracking_uri)
    if ref:  # alias
        version = mlflow_client.get_model_version_by_alias(name, ref)
    else:
        name, _, number = uri.removeprefix("models:/").partition("/")
        version = mlflow_client.get_model_version(name, number)
    destination = Path(cache_dir) / version_directory(name, str(version.version))
    if not destination.is_dir():
        download_version(mlflow_client, version, destination)
    return destination, str(version.version)
