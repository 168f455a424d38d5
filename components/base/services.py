"""The one error a task raises when a shared service (the tracking server, PostgreSQL,
S3, Redis) cannot be reached or refuses it: it names the service and where it is, with any
password masked, and never quotes a credential."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from components.base.masking import masked, scrubbed

T = TypeVar("T")


class ServiceUnavailable(RuntimeError):
    def __init__(self, service: str, uri: str, detail: str, hint: str = ""):
        self.service, self.uri = service, masked(uri)
        message = f"{service} at {self.uri}: {scrubbed(detail, uri)[:300]}"
        super().__init__(f"{message} ({hint})" if hint else message)


def with_retries(
    service: str,
    uri: str,
    action: Callable[[], T],
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    attempts: int = 4,
    max_wait_s: float = 8.0,
    hint: str = "",
    error: type[ServiceUnavailable] = ServiceUnavailable,
) -> T:
    """`action()`, retried with exponential backoff while it raises one of `retry_on`;
    then `ServiceUnavailable`. Any other error goes through at once."""
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
    )

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=max_wait_s),
            retry=retry_if_exception_type(retry_on),
            reraise=False,
        ):
            with attempt:
                return action()
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise error(
            service,
            uri,
            f"unreachable after {attempts} attempts: {type(cause).__name__}: {cause}",
            hint=hint,
        ) from None
    raise AssertionError("unreachable")
