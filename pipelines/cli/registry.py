"""The model registry: promote a version, and find the model a command should use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from components.base.contract.names import MODEL_NAME
from components.base.masking import masked
from components.base.registry import CHALLENGER, CHAMPION
from components.base.settings import get_settings
from pipelines.cli.app import app, console, fail


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to set.")] = CHAMPION,
) -> None:
    """Point an alias (default `champion`) at a registered model version."""
    from components.base.registry import RegistryUnavailable, client

    uri = get_settings().tracking_uri
    try:
        mlflow_client = client(uri)
        mlflow_client.get_model_version(MODEL_NAME, version)
    except RegistryUnavailable as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # MlflowException: no such version
        raise fail(f"{MODEL_NAME} version {version}: {exc}") from None
    mlflow_client.set_registered_model_alias(MODEL_NAME, alias, version)
    console.print(f"{MODEL_NAME} v{version} is now @{alias} ({masked(uri)})")


ALIAS = re.compile(r"[\w-]+")
"""What MLflow allows an alias to hold (`_REGISTERED_MODEL_ALIAS_REGEX`)."""


def model_uri(model: str | None) -> str:
    """An alias (`champion`, `challenger`), a registry URI or a model directory; by
    default the champion, else the challenger. Anything else is refused, naming it."""
    from components.base.registry import alias_version, client

    if model and (model.startswith("models:/") or Path(model).is_dir()):
        return model
    if model and not ALIAS.fullmatch(model):
        raise fail(
            f"{model!r} is no model directory, no alias and no models:/ URI "
            f"(a registered version: models:/{MODEL_NAME}/<version>)"
        )
    if model:
        return f"models:/{MODEL_NAME}@{model}"
    mlflow_client = client(get_settings().tracking_uri)
    for alias in (CHAMPION, CHALLENGER):
        if alias_version(mlflow_client, alias) is not None:
            return f"models:/{MODEL_NAME}@{alias}"
    raise fail("no model registered yet: run `sluice run` first")
