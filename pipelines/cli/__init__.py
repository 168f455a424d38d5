"""The `sluice` command line, by subject: running and compiling pipelines (`runs`),
submitting and scheduling them on Kubeflow (`submit`), the model registry (`registry`) and
serving (`serve`)."""

from pipelines.cli import registry, runs, serve, submit  # noqa: F401  (each registers its commands)
from pipelines.cli.app import app

__all__ = ["app"]
