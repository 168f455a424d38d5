"""The online store as the transformer depends on it.

A read that fails or takes longer than `--online_timeout_ms` is the caller's 503, "online
store unavailable" (gRPC UNAVAILABLE), never a default for every feature: defaults are for
entities the store does not know, not for a store that does not answer. Each such request is
counted in `sluice_online_store_errors_total{reason}`. After `--online_failures_to_down`
failed reads in a row the store counts as down: requests are refused at once (no caller
waits out another timeout), the server reports not ready (`/v2/health/ready`, gRPC
ServerReady), so Kubernetes routes around the pod, and a probe read every
`PROBE_INTERVAL_S` brings it back up by itself. Any successful read resets the count.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Executor
from http import HTTPStatus

import kserve.protocol.rest.server as kserve_rest
import redis.exceptions
from fastapi import Request
from fastapi.responses import JSONResponse
from kserve.errors import ServerNotReady
from kserve.logging import logger as kserve_logger

from serving.client_errors import OneLine
from serving.metrics import ONLINE_STORE_DOWN, ONLINE_STORE_ERRORS

logger = logging.getLogger("kserve.sluice")

UNAVAILABLE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    sqlite3.OperationalError,
)
"""What a read raises when the store, not the request, is at fault."""
PROBE_INTERVAL_S = 1.0
"""How often a down store is read again (Kubernetes probes readiness every 5 s)."""
READ_TIMEOUT_MS = 250.0
"""Feast's published Redis p99 is about 1.5 ms: a read this slow means a store in trouble."""
FAILURES_TO_DOWN = 3
"""Failed reads in a row after which the store counts as down."""


class OnlineStoreUnavailable(ServerNotReady):
    """HTTP 503 (KServe's `ServerNotReady` handler) and gRPC UNAVAILABLE (its interceptor
    reads `reason`)."""

    def __init__(self, detail: str):
        super().__init__()
        self.error_msg = self.reason = f"online store unavailable: {detail}"


class OnlineStoreHealth:
    """Failed reads in a row, and whether the store counts as down. Used on the event loop;
    the probe reads on `executor`."""

    def __init__(self, probe: Callable[[], object], executor: Executor, failures_to_down: int):
        self.probe, self.executor = probe, executor
        self.failures_to_down = failures_to_down
        self.failures = 0
        self.up = True
        self._prober: asyncio.Task | None = None
        ONLINE_STORE_DOWN.set(0)

    def refused(self, requests: int) -> str:
        """Count `requests` refused without a read while the store is down; what to tell them."""
        ONLINE_STORE_ERRORS.labels("down").inc(requests)
        return (
            f"down after {self.failures} failed reads in a row; "
            f"read again every {PROBE_INTERVAL_S:g} s"
        )

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, error: BaseException, requests: int) -> str:
        """Count a failed read, which `requests` waited for; what to tell them."""
        timeout = isinstance(error, redis.exceptions.TimeoutError)
        ONLINE_STORE_ERRORS.labels("timeout" if timeout else "error").inc(requests)
        self.failures += 1
        if self.up and self.failures >= self.failures_to_down:
            self.up = False
            ONLINE_STORE_DOWN.set(1)
            logger.warning(
                "online store down after %d failed reads in a row (last: %s: %s); not ready",
                self.failures,
                type(error).__name__,
                error,
            )
            self._prober = asyncio.get_running_loop().create_task(self._probe())
        return "read timed out" if timeout else "read failed"

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.up:
            await asyncio.sleep(PROBE_INTERVAL_S)
            try:
                await loop.run_in_executor(self.executor, self.probe)
            except Exception as error:  # noqa: BLE001 (whatever it is, the store stays down)
                logger.debug("online store probe failed: %s: %s", type(error).__name__, error)
                continue
            self.failures, self.up = 0, True
            ONLINE_STORE_DOWN.set(0)
            logger.info("online store answers again; ready")


def models_available(models) -> bool:
    """OIP: a server is ready when its models are ready for inferencing; a model whose
    dependency is down says so through `available`."""
    return all(getattr(model, "available", True) for model in models)


async def unavailable_handler(request: Request, error: ServerNotReady) -> JSONResponse:
    """KServe's handler logs a traceback per request, which during an outage floods the
    log: one line each instead, and the message as the body."""
    logger.warning("503 %s %s: %s", request.method, request.url.path, error)
    return JSONResponse(status_code=HTTPStatus.SERVICE_UNAVAILABLE, content={"error": str(error)})


def install() -> None:
    """KServe registers its `ServerNotReady` handler from its REST module's namespace when
    the server starts, so ours goes there first; its gRPC interceptor's line loses the
    traceback."""
    kserve_rest.server_not_ready_handler = unavailable_handler
    kserve_logger.addFilter(OneLine(OnlineStoreUnavailable))
