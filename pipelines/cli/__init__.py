"""The `sluice` command line, by subject: running and compiling pipelines (`runs`),
submitting and scheduling them on Kubeflow (`submit`), the model registry (`registry`),
serving (`serve`), the feature store (`features`), canary rollouts (`rollout`) and batch
drift (`drift`)."""

from pipelines.cli import (  # noqa: F401  (each registers its commands)
    drift,
    features,
    registry,
    rollout,
    runs,
    serve,
    submit,
)
from pipelines.cli.app import app

__all__ = ["app"]
