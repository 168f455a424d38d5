"""Client errors: a 400 (or INVALID_ARGUMENT) with the message, a count by reason, and one
log line, not a traceback.

KServe answers its own `InvalidInput`s (a body that is not JSON, say) before the model sees
the request, and logs a full traceback at ERROR for every bad request, REST and gRPC. Our
REST handler replaces KServe's: sluice's `RequestError`s were counted where they were raised
(REST and gRPC alike); the rest are KServe's and count as `malformed`. For gRPC, whose
handler lives in an interceptor class, a log filter drops the traceback (of a request for an
unknown model, too).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import kserve.protocol.rest.server as kserve_rest
from fastapi import Request
from fastapi.responses import JSONResponse
from kserve.errors import InvalidInput, ModelNotFound
from kserve.logging import logger as kserve_logger

from serving.metrics import INVALID_REQUESTS
from serving.request_errors import RequestError

logger = logging.getLogger("kserve.sluice")  # formatted and levelled with KServe's own lines


async def client_error_handler(request: Request, error: InvalidInput) -> JSONResponse:
    if not isinstance(error, RequestError):
        INVALID_REQUESTS.labels("malformed").inc()
    logger.warning("400 %s %s: %s", request.method, request.url.path, error)
    return JSONResponse(status_code=HTTPStatus.BAD_REQUEST, content={"error": str(error)})


class OneLine(logging.Filter):
    """KServe's error lines for these exceptions as one WARNING line, without traceback:
    they are expected answers, not faults of the server."""

    def __init__(self, *kinds: type[Exception]):
        super().__init__()
        self.kinds = kinds

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.kinds):
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def install() -> None:
    """KServe has no hook for its exception handlers: it registers the `InvalidInput` one
    from its REST module's namespace when the server starts, so ours goes there first."""
    kserve_rest.invalid_input_handler = client_error_handler
    kserve_logger.addFilter(OneLine(InvalidInput, ModelNotFound))
