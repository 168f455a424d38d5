"""Per-request log lines: off unless `--access_logs`, as production settings of the peers
have them (MLServer with `debug: false`, Triton at its default verbosity).

KServe writes four INFO lines for every REST call (uvicorn's access line, its
TimingMiddleware's wall and CPU time lines, and the latency line of `Model.__call__`) and
two for every gRPC call (its LoggingInterceptor's method line and the latency line). On a
loaded one-core server they cost about a tenth of its CPU. The latency they report is in the
Prometheus histograms already (KServe's `request_*_seconds`, sluice's
`sluice_request_seconds`), where it costs far less. Errors are logged either way: a client
error as one WARNING line (`serving.client_errors`), a server error with its traceback.
"""

from __future__ import annotations

import logging

import kserve.protocol.grpc.server as kserve_grpc
import kserve.protocol.rest.server as kserve_rest
from grpc.aio import ServerInterceptor


class UnloggedCalls(ServerInterceptor):
    """Stands in for KServe's LoggingInterceptor: passes every call on, saying nothing."""

    async def intercept_service(self, continuation, handler_call_details):
        return await continuation(handler_call_details)


def _without_timing(add_middlewares):
    """KServe's REST middlewares less the TimingMiddleware, whose only output is its log
    lines (it also matches every request against the routes to name them)."""

    def add(self, app) -> None:
        add_middlewares(self, app)
        timing = kserve_rest.TimingMiddleware
        app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not timing]

    return add


def install(enabled: bool) -> None:
    """Before the server starts, after logging is configured. `enabled`: KServe's lines as
    KServe writes them; otherwise none of them. The latency line is `ModelServer`'s
    `enable_latency_logging`, which the caller sets to the same."""
    if enabled:
        return
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()  # uvicorn writes no access line for a logger without handlers
    access.propagate = False
    kserve_rest.RESTServer._add_middlewares = _without_timing(
        kserve_rest.RESTServer._add_middlewares
    )
    kserve_grpc.LoggingInterceptor = UnloggedCalls
