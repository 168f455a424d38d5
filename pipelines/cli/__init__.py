"""The `sluice` command line, by subject: running and compiling pipelines (`runs`),
submitting and scheduling them on Kubeflow (`submit`), the model registry (`registry`),
serving (`serve`), the feature store (`features`), canary rollouts (`rollout`), batch
drift (`drift`), the retrain trigger (`trigger`) and rolling-origin backtests
(`backtest`)."""

from pipelines.cli import (  # noqa: F401  (each registers its commands)
    backtest,
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
