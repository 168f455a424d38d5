"""`python -m pipelines.cli`: the `sluice` command line."""

from pipelines.cli import app

app()
