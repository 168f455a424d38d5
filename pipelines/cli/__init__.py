"""The `sluice` command line, by subject: running and compiling pipelines (`runs`),
submitting and scheduling them on Kubeflow (`submit`), the model registry (`registry`),
serving (`serve`), the feature store (`features`), canary rollouts (`rollout`), batch
drift (`drift`) and the retrain trigger (`trigger`)."""

from pipelines.cli import (  # noqa: F401  (each registers its commands)
    drift,
    features,
    registry,
    rollout,
    runs,
    serve,
    submit,
    trigger,
)
from pipelines.cli.app import app

__all__ = ["app"]
