"""`sluice drift`: batch drift between two Parquet files (or a model's reference sample and
one), run in the drift environment, since alibi-detect cannot share this one's numpy."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from components.flights.request import CALENDAR_FEATURES
from pipelines.cli.app import app, console, fail
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
    exits 1 on drift, 0 without, 2 on input it cannot take, 3 when the check itself failed."""
    for name, value, allowed in (
        ("detector", detector, DETECTORS),
        ("correction", correction, CORRECTIONS),
    ):
        if value not in allowed:
            raise fail(f"--{name} {value!r}: one of {', '.join(allowed)}")
    started = time.time()
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
    if code < 0:
        try:
            killed = signal.Signals(-code).name
        except ValueError:  # a real-time signal has no name
            killed = f"signal {-code}"
        raise fail(f"the drift check was killed by {killed} (see above); not drift", code=3)
    if code == 1 and not _reported_drift(out / "drift.json", started):
        # Python's own exit code for an uncaught error, before the check could say anything
        raise fail("the drift check failed before reporting (see above); not drift", code=3)
    raise typer.Exit(code)


def holdout_drift(summary) -> dict | None:
    """After a local run: the holdout months, as the model's time split cut them, against
    the training rows the model carries (its reference sample); the report under the run.
    None, having said why in one line, where there is no drift environment, nothing to
    compare, or the check fails: the run itself has succeeded either way."""
    if not drift_python().is_file():
        console.print(f"[dim]no drift check: no drift environment at {DRIFT_VENV}[/]")
        return None
    try:
        return _holdout_drift(summary)
    except Exception as exc:  # the run has succeeded: a failed check must not say otherwise
        console.print(f"[yellow]no drift check:[/] {escape(f'{type(exc).__name__}: {exc}')}")
        return None


def _holdout_drift(summary) -> dict | None:
    import json

    import pandas as pd

    from components.base.contract.metadata import ModelMetadata
    from components.base.splits import TimeSplit
    from components.flights.features import ENTITY_TIMESTAMP

    model = Path(summary.training["model_path"])
    split = TimeSplit(**ModelMetadata.read(model).time_split)
    frame = pd.read_parquet(summary.features["training_frame_path"])
    holdout = split.split(frame, ENTITY_TIMESTAMP)["holdout"]
    if holdout.empty:
        return None
    out = Path(summary.run_dir) / "drift"
    out.mkdir(parents=True, exist_ok=True)
    holdout.to_parquet(out / "holdout.parquet", index=False)
    command = [str(drift_python()), "-m", "serving.drift.batch", "--model", str(model)]
    command += ["--current", str(out / "holdout.parquet"), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    if done.returncode not in (0, 1):
        console.print(f"[yellow]drift check failed:[/] {escape(done.stderr.strip()[-500:])}")
        return None
    first = holdout[ENTITY_TIMESTAMP].min().date()
    last = holdout[ENTITY_TIMESTAMP].max().date()
    console.print(
        f"\n[bold]drift[/]: the holdout ({first} to {last}) against the training reference"
    )
    console.print(escape(done.stdout.rstrip()), highlight=False)
    return json.loads((out / "drift.json").read_text())


def _reported_drift(report: Path, since: float) -> bool:
    """Exit 1 means drift only with a report, written by this run, that says so."""
    import json

    try:
        return report.stat().st_mtime >= since and json.loads(report.read_text())["is_drift"]
    except (OSError, ValueError, KeyError):
        return False


@app.command(
    "drift-service", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
)
def drift_service(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
    trigger_url: Annotated[
        str | None, typer.Option(help="The retrain trigger (`sluice trigger serve`).")
    ] = None,
) -> None:
    """The online drift service, in the drift environment: point a server's --logger_url
    at it. Versions' references come from where local servers cache what they serve;
    every other flag goes to it as it is (`--window`, `--every`, `--detector`, `--reports`,
    `--mlflow-url`; `.venv-drift/bin/python -m serving.drift.service --help` lists them)."""
    from components.base.settings import get_settings

    python = drift_python()
    if not python.is_file():
        raise fail(f"no drift environment at {DRIFT_VENV}: run `make venv-drift`")
    command = [str(python), "-m", "serving.drift.service", "--port", str(port)]
    command += ["--models", str(get_settings().served_models_dir)]
    if trigger_url:
        command += ["--trigger-url", trigger_url]
    raise typer.Exit(subprocess.run([*command, *ctx.args], check=False).returncode)
