"""Calls that serve every request waiting for them.

While fewer than `max_in_flight` calls are out, a request is sent at once, so a lone caller
waits for nothing; while that many are out, arriving requests queue, and when one lands the
next call takes the whole queue. The batch size thus follows the load, with no timer. The
transformer's online-store reads (`serving.feature_batch`) and its calls to a remote
predictor (`serving.predictor_batch`) both go this way; the predictor's model calls have
their own micro-batcher (`serving.batcher`), which also decides where a call runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from serving.metrics import COALESCED_REQUESTS

Item = TypeVar("Item")
Result = TypeVar("Result")

Call = Callable[[list[Item]], Awaitable[list[Result | BaseException]]]
"""The waiting requests to one result each, in order: a value, or the error that request
gets. An error the call raises itself is every request's."""


class Coalescer(Generic[Item, Result]):
    def __init__(self, call: Call, name: str, max_in_flight: int = 1):
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: {max_in_flight} must be at least 1")
        self.call, self.max_in_flight = call, max_in_flight
        self.batch_size = COALESCED_REQUESTS.labels(name)
        self._queue: list[tuple[Item, asyncio.Future]] = []
        self._in_flight = 0

    async def submit(self, item: Item) -> Result:
        """`item`'s result, from one call for every request waiting with it."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._in_flight < self.max_in_flight:
            self._send()
        return await future

    def _send(self) -> None:
        batch, self._queue = self._queue, []
        self._in_flight += 1
        self.batch_size.observe(len(batch))
        call = asyncio.ensure_future(self.call([item for item, _ in batch]))
        call.add_done_callback(lambda done: self._landed(batch, done))

    def _landed(self, batch: list[tuple[Item, asyncio.Future]], done: asyncio.Future) -> None:
        self._in_flight -= 1
        if done.cancelled():
            results = [asyncio.CancelledError()] * len(batch)
        elif done.exception() is not None:
            results = [done.exception()] * len(batch)
        else:
            results = done.result()
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # a caller that went away has a cancelled future
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self._queue:
            self._send()  # what queued behind the call goes next, without waiting longer
