"""`python -m serving.server`: the model server, as a KServe container runs it.

It takes KServe's own flags (`--http_port`, `--grpc_port`, `--workers`, `--predictor_host`,
`--predictor_protocol`, …) plus sluice's. Modes: `predictor` (the ONNX model), `transformer`
(Feast features, forwarding to `--predictor_host`), `combined` (both in one process).
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

from kserve import ModelServer, model_server
from kserve import logging as kserve_logging

from components.base.contract.names import FEATURE_SERVICE, MODEL_NAME
from components.base.settings import get_settings
from serving import (
    access_logs,
    client_errors,
    feature_cache,
    grpc_messages,
    online_store,
    payload_logger,
    predictor_batch,
    v2_rest,
)
from serving.predictor import FlightDelayPredictor, ServingOptions

MODES = ("predictor", "transformer", "combined")
GC_THRESHOLD = 50_000


def _at_least_one(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _positive(value: str) -> float:
    """A number above 0: a zero timeout would fail every read, a negative one is no limit
    redis-py accepts."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be above 0")
    return number


def _horizon(value: str):
    from components.flights.features import parse_horizon

    try:
        return parse_horizon(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    defaults = ServingOptions()
    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve")
    parser.set_defaults(model_name=MODEL_NAME)
    parser.add_argument("--mode", choices=MODES, default="predictor")
    parser.add_argument(
        "--model_uri",
        default="/mnt/models",
        help="model directory (KServe's storage initializer: /mnt/models) or models:/NAME@ALIAS",
    )
    parser.add_argument("--model_version", default=None, help="version to report")
    parser.add_argument(
        "--feature_repo",
        default=None,
        help="the Feast repo's directory (transformer): the local stores' files; the "
        "registry and online store themselves come from the settings",
    )
    parser.add_argument("--feature_service", default=FEATURE_SERVICE)
    parser.add_argument(
        "--batching", action=argparse.BooleanOptionalAction, default=defaults.batching
    )
    parser.add_argument("--max_batch_rows", type=int, default=defaults.max_batch_rows)
    parser.add_argument(
        "--max_wait_ms",
        type=float,
        default=defaults.max_wait_ms,
        help="the longest a request waits for others to share its model call",
    )
    parser.add_argument(
        "--inline_budget_us",
        type=float,
        default=defaults.inline_budget_us,
        help="model calls measured (at load) to take at most this long run on the event loop, "
        "bigger ones on the model thread; 0: all on the thread",
    )
    parser.add_argument("--max_request_rows", type=int, default=defaults.max_request_rows)
    parser.add_argument(
        "--online_timeout_ms",
        type=_positive,
        default=online_store.READ_TIMEOUT_MS,
        help="transformer: a Redis online-store read that takes longer fails (503)",
    )
    parser.add_argument(
        "--online_failures_to_down",
        type=int,
        default=online_store.FAILURES_TO_DOWN,
        help="transformer: failed online-store reads in a row after which the server is not "
        "ready until a probe read succeeds",
    )
    parser.add_argument(
        "--feature_cache_ttl_s",
        type=float,
        default=feature_cache.TTL_S,
        help="transformer: how long an entity's online features are reused (never longer "
        "than its feature view's TTL; a materialisation empties the cache); 0: not at all",
    )
    parser.add_argument(
        "--feature_cache_entries",
        type=int,
        default=feature_cache.MAX_ENTRIES,
        help="transformer: entities kept at most in the online-feature cache",
    )
    parser.add_argument(
        "--horizon",
        type=_horizon,
        default=None,
        help="transformer: how long before the scheduled departure the model predicts "
        "(0, 90min, 2h): features are read then; default the in-process model's, else 0",
    )
    parser.add_argument(
        "--predictor_calls_in_flight",
        type=_at_least_one,
        default=predictor_batch.IN_FLIGHT,
        help="transformer before a remote predictor: calls out at once; requests that arrive "
        "meanwhile wait and go together in the next call",
    )
    parser.add_argument(
        "--logger_url",
        default=None,
        help="send every inference call as KServe's payload logger would (CloudEvents), "
        "to this URL: the drift service; on a cluster the InferenceService's logger does it",
    )
    parser.add_argument("--logger_mode", choices=payload_logger.MODES, default="all")
    parser.add_argument(
        "--access_logs",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="log every request as KServe does (access, timing and latency lines; it sets "
        "KServe's --enable_latency_logging); off, only errors are logged per request and "
        "latency is in the Prometheus histograms",
    )
    parser.add_argument(
        "--gc_threshold",
        type=int,
        default=GC_THRESHOLD,
        help="allocations between young garbage collections (Python's default: 700)",
    )
    return parser


def build_model(args: argparse.Namespace):
    settings = get_settings()
    options = ServingOptions(
        batching=args.batching,
        max_batch_rows=args.max_batch_rows,
        max_wait_ms=args.max_wait_ms,
        inline_budget_us=args.inline_budget_us,
        max_request_rows=args.max_request_rows,
        model_version=args.model_version,
    )
    predictor = None
    if args.mode in ("predictor", "combined"):
        predictor = FlightDelayPredictor(
            args.model_name,
            args.model_uri,
            options,
            settings.tracking_uri,
            settings.served_models_dir,
        )
    if args.mode == "predictor":
        return predictor
    from components.flights.feature_repo.store import FeastStores
    from serving.transformer import FeastTransformer

    return FeastTransformer(
        args.model_name,
        Path(args.feature_repo or settings.feature_repo_dir),
        FeastStores.from_settings(settings).for_serving(args.online_timeout_ms / 1000),
        args.feature_service,
        predictor=predictor,
        max_request_rows=args.max_request_rows,
        failures_to_down=args.online_failures_to_down,
        cache_ttl_s=args.feature_cache_ttl_s,
        cache_entries=args.feature_cache_entries,
        horizon=args.horizon,
        predictor_calls_in_flight=args.predictor_calls_in_flight,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.configure_logging:  # as ModelServer would, but before loading, so load logs show
        kserve_logging.configure_logging(args.log_config_file)
    model = build_model(args)
    model.load()
    # Everything loaded so far lives as long as the process: move it out of the garbage
    # collector's reach, so that full collections stop pausing the event loop. Requests
    # allocate freely and free by reference counting; the default threshold (700) would run
    # a young collection every request or so under load, over all requests in flight.
    gc.collect()
    gc.freeze()
    gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    access_logs.install(args.access_logs)
    client_errors.install()
    online_store.install()
    grpc_messages.install()
    v2_rest.install()
    if args.logger_url:
        settings = get_settings()
        try:
            config = payload_logger.LoggerConfig(
                url=args.logger_url,
                mode=args.logger_mode,
                inference_service=settings.inference_service,
                namespace=settings.namespace,
                component="transformer" if args.mode == "transformer" else "predictor",
                source=f"http://localhost:{args.http_port}/",
            )
        except ValueError as exc:
            build_parser().error(f"--logger_url: {exc}")
        payload_logger.install(config)
    ModelServer(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=args.workers,
        enable_latency_logging=args.access_logs,
    ).start([model])


if __name__ == "__main__":
    main()
