"""`sluice drift`: batch drift between two Parquet files (or a model's reference sample and
one), run in the drift environment, since alibi-detect cannot share this one's numpy."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Annotated

import typer

from components.flights.request import CALENDAR_FEATURES
from pipelines.cli.app import app, fail
from serving.drift.detectors import CORRECTIONS, DETECTORS

DRIFT_VENV = Path(__file__).resolve().parents[2] / ".venv-drift"
"""Where `make venv-drift` puts the drift environment: beside the source tree."""


def drift_python() -> Path:
    return DRIFT_VENV / "bin" / "python"


@app.command()
def drift(
    current: Annotated[Path, typer.Option(help="The window to check (Parquet).")],
    reference: Annotated[
        Path | None,
        typer.Option(help="What it is compared with (Parquet; default: --model's sample)."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(help="Model directory: the features it takes and its reference sample."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where drift.json and drift.html go.")] = Path("."),
    detector: Annotated[
        str, typer.Option(help="alibi (alibi-detect, BSL 1.1) or scipy (the same tests).")
    ] = "alibi",
    correction: Annotated[str, typer.Option(help="bonferroni or fdr.")] = "bonferroni",
    p_val: Annotated[float, typer.Option(help="Significance before the correction.")] = 0.05,
    exclude: Annotated[
        str | None,
        typer.Option(
            help=f"Features left out, comma-separated; '' for none "
            f"(default: the calendar ones, {', '.join(CALENDAR_FEATURES)})."
        ),
    ] = None,
) -> None:
    """Does the current window drift from the reference? Writes drift.json and drift.html;
    exits 1 on drift, 0 without, 2 on input it cannot take."""
    for name, value, allowed in (
        ("detector", detector, DETECTORS),
        ("correction", correction, CORRECTIONS),
    ):
        if value not in allowed:
            raise fail(f"--{name} {value!r}: one of {', '.join(allowed)}")
    python = drift_python()
    if not python.is_file():
        raise fail(f"no drift environment at {DRIFT_VENV}: run `make venv-drift`")
    command = [str(python), "-m", "serving.drift.batch", "--current", str(current)]
    command += ["--out", str(out), "--detector", detector, "--correction", correction]
    command += ["--p-val", str(p_val)]
    for flag, value in (("--reference", reference), ("--model", model), ("--exclude", exclude)):
        if value is not None:
            command += [flag, str(value)]
    code = subprocess.run(command, check=False).returncode
    raise typer.Exit(code)
