"""Online features for concurrent requests: one read serves every request waiting for it.

While the store is idle a request is read at once, so a lone caller waits for nothing; while
a read is in flight, arriving requests queue, and when it lands the next read takes them all
(as the predictor's micro-batcher does for model calls). Feast's per-call cost (resolving the
feature service, building its response) and the request-time derivation are then paid once
per read, not once per request. Reads run on the transformer's thread, never on the event
loop. A read that fails answers every request in it with a 503, and while the store is down
requests are refused without a read (`serving.online_store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

from serving.online_store import UNAVAILABLE_ERRORS, OnlineStoreHealth, OnlineStoreUnavailable

Columns = dict[str, list]
"""Name → one value per flight: a request's fields, or a model input's features."""


def _rows(columns: Columns) -> int:
    return len(next(iter(columns.values())))


class FeatureBatcher:
    def __init__(
        self, build: Callable[[Columns], Columns], health: OnlineStoreHealth, executor: Executor
    ):
        self.build, self.health, self.executor = build, health, executor
        self._queue: list[tuple[Columns, asyncio.Future]] = []
        self._reading = False

    async def submit(self, flights: Columns) -> Columns:
        """`build(flights)`, as part of one call for every request waiting with this one."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append((flights, future))
        if not self._reading:
            self._read()
        return await future

    def _read(self) -> None:
        batch, self._queue = self._queue, []
        if not self.health.up:
            detail = self.health.refused(len(batch))
            self._fail(batch, lambda: OnlineStoreUnavailable(detail))
            return
        merged = {name: [v for flights, _ in batch for v in flights[name]] for name in batch[0][0]}
        self._reading = True
        read = asyncio.get_running_loop().run_in_executor(self.executor, self.build, merged)
        read.add_done_callback(lambda done: self._landed(batch, done))

    def _landed(self, batch: list[tuple[Columns, asyncio.Future]], done: asyncio.Future) -> None:
        self._reading = False
        error = done.exception()
        if error is None:  # the store's health counts reads, which `build` reports itself
            columns, start = done.result(), 0
            for flights, future in batch:
                end = start + _rows(flights)
                if not future.done():  # a caller that went away has a cancelled future
                    future.set_result({name: v[start:end] for name, v in columns.items()})
                start = end
        elif isinstance(error, UNAVAILABLE_ERRORS):
            detail = self.health.failed(error, len(batch))
            self._fail(batch, lambda: OnlineStoreUnavailable(detail))
        else:
            self._fail(batch, lambda: error)
        if self._queue:
            self._read()  # what queued behind the read goes next, without waiting longer

    @staticmethod
    def _fail(batch, error: Callable[[], BaseException]) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(error())
