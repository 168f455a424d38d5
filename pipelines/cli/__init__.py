"""The `sluice` command line, by subject: running and compiling pipelines (`runs`),
submitting and scheduling them on Kubeflow (`submit`), the model registry (`registry`),
serving (`serve`) and the feature store (`features`)."""

from pipelines.cli import (  # noqa: F401  (each registers its commands)
    features,
    registry,
    runs,
    serve,
    submit,
)
from pipelines.cli.app import app

__all__ = ["app"]
