"""Client errors: `RequestError` is a KServe `InvalidInput` (HTTP 400, gRPC
INVALID_ARGUMENT) whose message names the field and the rule, and whose `reason` is a
fixed, low-cardinality label for `sluice_invalid_requests_total`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kserve.errors import InvalidInput

from serving.metrics import INVALID_REQUESTS


class RequestError(InvalidInput):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.label = reason


@contextmanager
def counted_client_errors() -> Iterator[None]:
    """Count a `RequestError` by its reason on its way out (REST and gRPC alike)."""
    try:
        yield
    except RequestError as exc:
        INVALID_REQUESTS.labels(exc.label).inc()
        raise
