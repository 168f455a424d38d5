"""A request and its response, joined by their shared `Ce-Id`, tell which model version saw
which feature rows. The logger's workers send both concurrently, so either may come first;
each waits for the other up to a timeout. A request left alone was refused by the model
(a response goes out only for a 200) or lost: it is dropped and counted."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from serving.drift.events import EventError, LoggedRequest, LoggedResponse


@dataclass(frozen=True, slots=True)
class Joined:
    model_name: str
    model_version: str
    columns: dict[str, list]
    scores: list[float]
    rows: int


@dataclass(frozen=True, slots=True)
class Expired:
    requests: int
    """Requests whose response never came."""
    responses: int
    """Responses whose request never came."""


class Joiner:
    def __init__(
        self,
        timeout_s: float = 30.0,
        max_pending: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.timeout_s = timeout_s
        self.max_pending = max_pending
        self.clock = clock
        self._pending: OrderedDict[str, tuple[float, LoggedRequest | LoggedResponse]] = (
            OrderedDict()
        )

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, event: LoggedRequest | LoggedResponse) -> Joined | None:
        """The joined pair when this event completes one; a second event of the same kind
        under one id replaces the first (a retried delivery)."""
        waiting = self._pending.get(event.id)
        if waiting is None or type(waiting[1]) is type(event):
            self._pending[event.id] = (self.clock(), event)
            self._pending.move_to_end(event.id)
            return None
        del self._pending[event.id]
        request, response = (
            (event, waiting[1]) if isinstance(event, LoggedRequest) else (waiting[1], event)
        )
        if len(response.scores) != request.rows:
            raise EventError(
                "join",
                f"Ce-Id {event.id}: the request has {request.rows} rows, its response "
                f"{len(response.scores)} scores",
            )
        return Joined(
            response.model_name,
            response.model_version,
            request.columns,
            response.scores,
            request.rows,
        )

    def expire(self) -> Expired:
        """Drop what waited past the timeout, and the oldest beyond `max_pending`, so that a
        sink without responses cannot grow without bound."""
        deadline = self.clock() - self.timeout_s
        requests = responses = 0
        while self._pending:
            key, (at, event) = next(iter(self._pending.items()))
            if at > deadline and len(self._pending) <= self.max_pending:
                break
            del self._pending[key]
            if isinstance(event, LoggedRequest):
                requests += 1
            else:
                responses += 1
        return Expired(requests, responses)
