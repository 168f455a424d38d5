"""The `sluice` command line, by subject: running and compiling pipelines (`runs`), the
model registry (`registry`), serving (`serve`) and the feature store (`features`)."""

from pipelines.cli import features, registry, runs, serve  # noqa: F401  (each registers its commands)
from pipelines.cli.app import app

__all__ = ["app"]
