"""Serving: a local model server, batch inference, and a smoke test of both protocols."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from components.base.contract.names import (
    DECISION_NAME,
    MODEL_NAME,
    OUTPUT_NAME,
    QUARANTINE_REASONS,
    QUARANTINE_ROW,
)
from components.base.settings import get_settings
from pipelines.cli.app import app, console, fail
from pipelines.cli.registry import model_uri

MODEL_OPTION = typer.Option(help="Alias, models:/ URI or directory; default champion.")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def serve(
    ctx: typer.Context,
    model: Annotated[str | None, MODEL_OPTION] = None,
    mode: Annotated[str, typer.Option(help="predictor, transformer or combined.")] = "combined",
    http_port: Annotated[int, typer.Option(help="REST port.")] = 8080,
    grpc_port: Annotated[int, typer.Option(help="gRPC port.")] = 8081,
    predictor_host: Annotated[
        str | None, typer.Option(help="Transformer mode: host:port of the predictor.")
    ] = None,
    predictor_protocol: Annotated[str, typer.Option(help="v1, v2 or grpc-v2.")] = "v1",
) -> None:
    """Serve a model locally (KServe ModelServer: REST and gRPC).

    Every other flag goes to the server as it is (`python -m serving.server --help` lists
    them): the tuning flags --no-batching, --max_batch_rows, --max_wait_ms,
    --inline_budget_us, --max_request_rows and --gc_threshold, and KServe's own.
    """
    from serving.server import main as serve_main

    argv = ["--mode", mode, "--http_port", str(http_port), "--grpc_port", str(grpc_port)]
    if mode != "transformer":
        argv += ["--model_uri", model_uri(model)]
    if predictor_host:
        argv += ["--predictor_host", predictor_host, "--predictor_protocol", predictor_protocol]
    serve_main([*argv, *ctx.args])


@app.command()
def predict(
    source: Annotated[Path, typer.Argument(help="Parquet file of feature rows.")],
    destination: Annotated[Path, typer.Argument(help="Parquet file to write.")],
    model: Annotated[str | None, MODEL_OPTION] = None,
    batch_rows: Annotated[
        int, typer.Option(min=1, help="Rows per record batch read, scored and written.")
    ] = 65_536,
    keep: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated input columns written before the scores, in this order, "
            "each once (default: every column; '' for the scores alone). Only these and the "
            "features are read."
        ),
    ] = None,
    probability_column: Annotated[str, typer.Option(help="The probability's name.")] = OUTPUT_NAME,
    decision_column: Annotated[
        str, typer.Option(help="The decision's name (a labelled file holds a delayed already).")
    ] = DECISION_NAME,
    quarantine: Annotated[
        Path | None,
        typer.Option(
            help="Parquet file for the rows the server would refuse (a required value "
            "missing, an infinity, a number out of range), each with its row in the source "
            f"({QUARANTINE_ROW}) and the rules it breaks ({QUARANTINE_REASONS}); the rest are "
            "scored. Without it, such a row stops the run."
        ),
    ] = None,
    copy: Annotated[
        bool,
        typer.Option(
            help="Copy the input columns written along as the file stores them (its pages, "
            "encodings and compression), where it can; --no-copy decodes them and encodes "
            "them again (snappy, dictionaries), as the scores are."
        ),
    ] = True,
) -> None:
    """Batch inference: adds the probability and the decision to every row, streamed in
    record batches (reading, scoring and writing overlap)."""
    from pyarrow import ArrowException

    from components.base.contract.artifact import ModelArtifact
    from components.base.locate import ModelNotFound, resolve_model
    from components.base.registry import RegistryUnavailable
    from serving.batch import OutputColumns, OutputColumnsError, check_output, predict_file
    from serving.request_errors import RequestError

    settings = get_settings()
    if not source.is_file():
        raise fail(f"{source} is not a file")
    for written, what in ((destination, "destination"), (quarantine, "quarantine")):
        if written is not None and not written.parent.is_dir():
            raise fail(f"{written.parent} (the {what}'s folder) does not exist")
    try:
        kept = None if keep is None else tuple(filter(None, map(str.strip, keep.split(","))))
        columns = OutputColumns(kept, probability_column, decision_column)
        check_output(source, destination, columns, quarantine)  # before a model is fetched
    except OutputColumnsError as exc:
        raise fail(str(exc)) from None
    except (ArrowException, OSError) as exc:  # a damaged footer is an OSError
        raise fail(f"{source}: {exc}") from None
    try:
        directory, version = resolve_model(
            model_uri(model), settings.tracking_uri, settings.served_models_dir
        )
    except (RegistryUnavailable, ModelNotFound) as exc:
        raise fail(exc.args[0]) from None
    try:
        result = predict_file(
            ModelArtifact(directory, codes=True),
            source,
            destination,
            batch_rows,
            columns=columns,
            quarantine=quarantine,
            copy=copy,
        )
    except (KeyError, OutputColumnsError) as exc:  # names the file; str() would quote a KeyError
        raise fail(exc.args[0]) from None
    except (RequestError, ArrowException) as exc:
        raise fail(f"{source}: {exc}") from None
    except OSError as exc:  # a damaged page, a full disk
        raise fail(f"{source} → {destination}: {exc}") from None
    console.print(
        f"scored {result.rows - result.quarantined:,} rows with model {version or directory} "
        f"in {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s read) → {destination}"
    )
    if result.decoded_why:
        console.print(f"the columns written along were decoded, not copied: {result.decoded_why}")
    if quarantine is not None:
        refused = f"set aside {result.quarantined:,} of {result.rows:,} rows"
        console.print(f"{refused}, which the server would refuse → {quarantine}")
    unseen = {name: count for name, count in result.unseen.items() if count}
    if unseen:
        console.print(
            "out of vocabulary (scored as unseen): "
            + ", ".join(f"{name} {count:,}" for name, count in unseen.items())
        )


@app.command()
def smoke(model: Annotated[str | None, MODEL_OPTION] = None) -> None:
    """Start the local server, send one REST and one gRPC request, print both, stop."""
    import asyncio

    import httpx
    from kserve import InferenceGRPCClient
    from kserve.protocol.infer_type import InferInput, InferRequest

    from components.flights.request import EXAMPLE_REQUEST, NUMBER_FIELDS
    from serving.process import free_port, model_server

    uri = model_uri(model)
    ports = (8080, 8081)
    if any(not _port_free(p) for p in ports):
        ports = (free_port(), free_port())
    console.print(
        f"serving {uri} (Feast transformer + predictor) on REST {ports[0]}, gRPC {ports[1]}"
    )
    with model_server("--mode", "combined", "--model_uri", uri, ports=ports) as server:
        rest = httpx.post(
            f"{server.http}/v1/models/{MODEL_NAME}:predict", json={"instances": [EXAMPLE_REQUEST]}
        ).json()
        inputs = [
            InferInput(k, [1], "FP32", [float(v)])
            if k in NUMBER_FIELDS
            else InferInput(k, [1], "BYTES", [v])
            for k, v in EXAMPLE_REQUEST.items()
        ]

        async def grpc_call():
            async with InferenceGRPCClient(server.grpc) as client:
                return await client.infer(InferRequest(MODEL_NAME, inputs))

        answer = asyncio.run(grpc_call())
    table = Table(
        title=f"{EXAMPLE_REQUEST['carrier']} {EXAMPLE_REQUEST['origin']}→"
        f"{EXAMPLE_REQUEST['dest']} {EXAMPLE_REQUEST['sched_dep_time']}"
    )
    for column in ("protocol", "model version", "delay probability", DECISION_NAME):
        table.add_column(column)
    table.add_row(
        "REST v1",
        str(rest["model_version"]),
        f"{rest['predictions'][0]:.4f}",
        str(rest[DECISION_NAME][0]),
    )
    table.add_row(
        "gRPC v2",
        str(answer.model_version),
        f"{float(answer.outputs[0].as_numpy()[0]):.4f}",
        str(bool(answer.outputs[1].as_numpy()[0])),
    )
    console.print(table)


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0
