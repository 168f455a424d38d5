"""Adaptive micro-batching: concurrent requests share one model call.

While the model is idle a request runs at once, so a lone caller pays no wait; while a call
is in flight, arriving requests queue and go together in the next call (up to
`max_batch_rows`, or after `max_wait_s` at the latest). The batch size thus follows the load.
Model calls run on one worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from serving.metrics import BATCH_ROWS

Score = Callable[[np.ndarray, np.ndarray], np.ndarray]


class MicroBatcher:
    def __init__(self, score: Score, max_batch_rows: int = 256, max_wait_s: float = 0.002):
        self.score = score
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self._queue: list[tuple[np.ndarray, np.ndarray, asyncio.Future]] = []
        self._rows = 0
        self._in_flight = False
        self._timer: asyncio.TimerHandle | None = None

    async def submit(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((categorical, numeric, future))
        self._rows += len(categorical)
        if not self._in_flight or self._rows >= self.max_batch_rows:
            self._flush(loop)
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush, loop)
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._queue:
            return
        batch, self._queue, self._rows = self._queue, [], 0
        self._in_flight = True
        categorical = np.concatenate([b[0] for b in batch]) if len(batch) > 1 else batch[0][0]
        numeric = np.concatenate([b[1] for b in batch]) if len(batch) > 1 else batch[0][1]
        BATCH_ROWS.observe(len(categorical))
        call = loop.run_in_executor(self.executor, self.score, categorical, numeric)
        call.add_done_callback(lambda done: self._deliver(loop, batch, done))

    def _deliver(self, loop, batch, done: asyncio.Future) -> None:
        self._in_flight = False
        error = done.exception()
        start = 0
        for categorical, _, future in batch:
            end = start + len(categorical)
            if not future.done():  # a caller that went away has a cancelled future
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result()[start:end])
            start = end
        if self._queue:
            self._flush(loop)


class DirectScorer:
    """No batching: each request is its own model call, still off the event loop."""

    def __init__(self, score: Score):
        self.score = score
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def submit(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        loop = asyncio.get_running_loop()
        BATCH_ROWS.observe(len(categorical))
        return await loop.run_in_executor(self.executor, self.score, categorical, numeric)
