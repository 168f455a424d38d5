"""The drift service: `python -m serving.drift.service` (`sluice drift-service` locally).

KServe's payload logger posts every request and response to `POST /` as a binary
CloudEvent; this answers 202 for an event it took, 400 naming the header or field for one
it cannot (counted, and the service goes on). `GET /metrics` is for Prometheus,
`GET /v1/status` shows each version's last check, `GET /healthz` says it is up."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from serving.drift.detectors import CORRECTIONS, DETECTORS, LICENCE_NOTE, warm_up
from serving.drift.events import EventError
from serving.drift.monitor import SWEEP_EVERY_S, DriftMonitor, MonitorConfig
from serving.drift.references import References
from serving.drift.trigger_client import TriggerClient

ACCEPTED = Response(status_code=202)


def create_app(monitor: DriftMonitor) -> Starlette:
    async def events(request: Request) -> Response:
        body = await request.body()
        try:
            monitor.ingest(request.headers, body)
        except EventError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return ACCEPTED

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(monitor.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def status(request: Request) -> Response:
        verdicts = [v.to_dict() for v in list(monitor.verdicts.values())]
        windows = {
            f"{name} {version}": len(window) for (name, version), window in monitor.windows.items()
        }
        body = {"windows": windows, "pending_events": len(monitor.joiner), "verdicts": verdicts}
        return Response(orjson.dumps(body), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/", events, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/v1/status", status, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=_closing(monitor),
    )


def _closing(monitor: DriftMonitor):
    """Sweeps while the service runs; at shutdown, a check under way finishes."""

    async def sweeping() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                monitor.sweep()
            except Exception:  # the sweeper must outlive any one sweep
                logging.getLogger("sluice.drift").exception("the sweep failed")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sweeper = asyncio.create_task(sweeping())
        yield
        sweeper.cancel()
        monitor.close()

    return lifespan


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="serving.drift.service", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument(
        "--models", type=Path, help="models directory: <model>-<version>/metadata.json each"
    )
    p.add_argument(
        "--mlflow-url",
        help="MLflow tracking server, for versions not in --models (basic auth from "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)",
    )
    p.add_argument("--trigger-url", help="the retrain trigger (POST /v1/drift on drift)")
    p.add_argument("--reports", type=Path, help="where each drift episode's report goes")
    p.add_argument("--window", type=int, default=MonitorConfig.window, help="rows per check")
    p.add_argument("--every", type=int, default=MonitorConfig.every, help="new rows between checks")
    p.add_argument("--detector", choices=DETECTORS, default="alibi")
    p.add_argument("--correction", choices=CORRECTIONS, default="bonferroni")
    p.add_argument("--p-val", type=float, default=MonitorConfig.p_val)
    p.add_argument(
        "--exclude",
        default=",".join(MonitorConfig.exclude),
        help="features left out, comma-separated (default: the calendar ones); '' for none",
    )
    p.add_argument(
        "--idle",
        type=float,
        default=MonitorConfig.idle_s,
        help="seconds without rows, while another version of the model logs some, after "
        "which a version is retired (its window and gauges removed)",
    )
    p.add_argument(
        "--join-timeout",
        type=float,
        default=MonitorConfig.join_timeout_s,
        help="seconds a request waits for its response (and the other way round)",
    )
    return p


def monitor_from(args: argparse.Namespace) -> DriftMonitor:
    config = MonitorConfig(
        window=args.window,
        every=args.every,
        detector=args.detector,
        p_val=args.p_val,
        correction=args.correction,
        exclude=tuple(f for f in args.exclude.split(",") if f),
        join_timeout_s=args.join_timeout,
        idle_s=args.idle,
    )
    references = References(args.models, args.mlflow_url)
    trigger = TriggerClient(args.trigger_url) if args.trigger_url else None
    return DriftMonitor(references, config, trigger=trigger, reports_dir=args.reports)


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    args = parser().parse_args(argv)
    problems = []
    if args.models is None and args.mlflow_url is None:
        problems.append("give --models or --mlflow-url: where each version's reference is")
    if args.window < 2 or args.every < 1:
        problems.append(f"--window {args.window} --every {args.every}: need 2+ and 1+")
    if args.idle <= 0 or args.join_timeout <= 0:
        problems.append(f"--idle {args.idle} --join-timeout {args.join_timeout}: seconds > 0")
    if not 0 < args.p_val < 1:
        problems.append(f"--p-val {args.p_val}: a significance level in (0, 1)")
    if problems:
        print("error: " + "; ".join(problems), file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.detector == "alibi":
        logging.getLogger("sluice.drift").warning(LICENCE_NOTE)
    warm_up(args.detector)
    monitor = monitor_from(args)
    logging.getLogger("sluice.drift").info(
        "drift service on http://%s:%s: windows of %d rows, checked every %d, %s; trigger %s",
        args.host,
        args.port,
        args.window,
        args.every,
        args.detector,
        args.trigger_url or "off",
    )
    uvicorn.run(
        create_app(monitor),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
