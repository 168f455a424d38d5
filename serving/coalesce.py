"""Calls that serve every request waiting for them.

While fewer than `max_in_flight` calls are out, a request is sent at once, so a lone caller
waits for nothing; while that many are out, arriving requests queue, and when one lands the
next call takes the whole queue. The batch size thus follows the load. With `max_wait_s`, a
queue that has waited that long goes out even while the calls ahead of it are still out: a
few calls that hang (a peer that stopped answering without closing its connections) then hold
up only their own requests, not every request after them. The transformer's online-store
reads (`serving.feature_batch`) and its calls to a remote predictor
(`serving.predictor_batch`) both go this way; the predictor's model calls have their own
micro-batcher (`serving.batcher`), which also decides where a call runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

Call = Callable[[list[Item]], Awaitable[list[Result | BaseException]]]
"""The waiting requests to one result each, in order: a value, or the error that request
gets. An error the call raises itself is every request's."""


class Coalescer(Generic[Item, Result]):
    def __init__(self, call: Call, max_in_flight: int = 1, max_wait_s: float | None = None):
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight: {max_in_flight} must be at least 1")
        self.call, self.max_in_flight, self.max_wait_s = call, max_in_flight, max_wait_s
        self._queue: list[tuple[Item, asyncio.Future]] = []
        self._calls: set[asyncio.Task] = set()  # the calls out (the loop keeps weak references)
        self._overdue: asyncio.TimerHandle | None = None

    async def submit(self, item: Item) -> Result:
        """`item`'s result, from one call for every request waiting with it."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((item, future))
        if len(self._calls) < self.max_in_flight:
            self._send()
        elif self._overdue is None and self.max_wait_s is not None:
            self._overdue = loop.call_later(self.max_wait_s, self._send)
        return await future

    def _send(self) -> None:
        if self._overdue is not None:
            self._overdue.cancel()
            self._overdue = None
        batch, self._queue = self._queue, []
        call = asyncio.ensure_future(self.call([item for item, _ in batch]))
        self._calls.add(call)
        call.add_done_callback(lambda done: self._landed(batch, done))

    def _landed(self, batch: list[tuple[Item, asyncio.Future]], done: asyncio.Task) -> None:
        self._calls.discard(done)
        if done.cancelled():
            results = [RuntimeError("the call was cancelled")] * len(batch)
        elif done.exception() is not None:
            results = [done.exception()] * len(batch)
        else:
            results = done.result()
            if len(results) != len(batch):
                wrong = RuntimeError(f"{len(results)} results for {len(batch)} requests")
                results = [wrong] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # a caller that went away has a cancelled future
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        if self._queue and len(self._calls) < self.max_in_flight:
            self._send()  # what queued behind the call goes next, without waiting longer
