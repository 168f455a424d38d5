"""Model calls for the server: where they run, and adaptive micro-batching across requests.

Where: a call of at most `inline_max_rows` rows runs on the event loop, because for such a
batch the model call (about 18 µs for one row of this network alone, the graph fed two
matrices (`components.base.contract.packed_graph`); 75–85 µs in a loaded server, whose other
work leaves the caches cold) costs less than handing it to a thread and back (a future, a
wake-up of the loop, two GIL hand-offs; under load that hop took a fifth of the server's
throughput). Bigger batches run on the model thread, so a large request never holds the loop
for longer than a small call does. `inline_rows_within` picks the limit when the model
loads: the largest batch whose call fits a time budget on this machine, so a heavier model
goes to the thread by itself. A budget of 0 sends every call to the thread.

Batching: requests whose rows fit a call on the loop and that reach the model in the same
turn of the event loop go in one call, at the end of that turn; and a request waits, at most
`max_wait_s`, until as many requests have arrived as the last call had, so the calls keep
the size the load gives them. A lone caller, whose calls hold one request, waits for
nothing; a request that arrives more than `QUIET_S` after the one before it neither; only
the first lone request right after a burst waits, once. Requests too many for the loop go to
the model thread at once; while a threaded call is in flight, arriving requests queue and go
together in the next call, at the latest after `max_wait_s`. A call closes once it holds
`max_batch_rows` rows or more (the request that reaches the limit goes in it). Callers that
went away before their call are not scored, and whatever fails a call fails each of its
callers.

Why the turns are worth waiting for (sluice before and after, side by side on one host, one
core, concurrency 32 unless said): the requests of a call go through each stage together
(every request read, one model call, every answer written), so each stage's code and data
stay in the caches, where one request at a time evicted the model's between calls; one model
call per request cost 75–85 µs under load against 18 µs in a tight loop. REST merged about
16 requests a call, gRPC 3 to 8 (its requests reach the loop one per turn, so only the wait
for the last call's number merges them): CPU per request 528 → 293 µs over REST and 637 →
409 µs over gRPC in one such run (`make bench`'s figures are in the README), p99 lower at
every concurrency from 4 up, and a lone caller's p50 within 0.03 ms of calling at once.
(Holding to the end of the turn alone was measured in an earlier round, with a graph fed one
input per feature: no gain beyond the noise.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from serving.metrics import BATCH_ROWS

QUIET_S = 0.1
"""After this long without a request, the next one waits for nobody: the last call's size
says nothing of it. Not `max_wait_s`: under load the answers to one call can take that long
to go out, and a request after them must still wait for its fellows (gRPC at concurrency 32,
three 4-second runs with that bound: 1,620–1,910 req/s; two without any reset: 2,190–2,370)."""

Score = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]
"""(categorical, numeric) rows to the model's outputs, each with one value per row."""


def inline_rows_within(
    score: Score,
    widths: tuple[int, int],
    budget_s: float,
    largest: int = 1024,
    clock: Callable[[], float] = time.perf_counter,
) -> int:
    """The largest power-of-two batch (up to `largest`) whose call time is within
    `budget_s`; 0 when not even one row is. `widths`: categorical and numeric columns. A
    call's time is the fastest of 15: being preempted only ever adds to it, and a server
    started on a busy machine would otherwise send even one-row calls to the thread."""
    rows, fits = 1, 0
    while rows <= largest and budget_s > 0:
        categorical = np.full((rows, widths[0]), "", object)  # values do not change the cost
        numeric = np.zeros((rows, widths[1]), np.float32)
        timings = []
        for _ in range(15):
            started = clock()
            score(categorical, numeric)
            timings.append(clock() - started)
        if min(timings) > budget_s:
            break
        fits, rows = rows, rows * 2
    return fits


class ModelRunner:
    def __init__(self, score: Score, inline_max_rows: int):
        self.score = score
        self.inline_max_rows = inline_max_rows
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    def inline(self, rows: int) -> bool:
        return rows <= self.inline_max_rows

    def threaded(self, categorical: np.ndarray, numeric: np.ndarray) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(
            self.executor, self.score, categorical, numeric
        )

    async def submit(self, categorical: np.ndarray, numeric: np.ndarray) -> tuple[np.ndarray, ...]:
        """One request, one model call: the scorer when batching is off."""
        BATCH_ROWS.observe(len(categorical))
        if self.inline(len(categorical)):
            return self.score(categorical, numeric)
        return await self.threaded(categorical, numeric)


class MicroBatcher:
    def __init__(self, runner: ModelRunner, max_batch_rows: int = 256, max_wait_s: float = 0.002):
        self.runner = runner
        self.max_batch_rows = max_batch_rows
        self.max_wait_s = max_wait_s
        self._queue: list[tuple[np.ndarray, np.ndarray, asyncio.Future]] = []
        self._rows = 0
        self._in_flight = 0  # threaded calls not yet delivered
        self._cohort = 1  # requests in the last call: how many the next one waits for
        self._arrived_at = float("-inf")  # the last request's arrival
        self._timer: asyncio.Handle | None = None
        self._soon: asyncio.Handle | None = None

    async def submit(self, categorical: np.ndarray, numeric: np.ndarray) -> tuple[np.ndarray, ...]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._queue and now - self._arrived_at > QUIET_S:
            self._cohort = 1  # after a quiet spell the last call says nothing of the next
        self._arrived_at = now
        future = loop.create_future()
        self._queue.append((categorical, numeric, future))
        self._rows += len(categorical)
        if self._rows >= self.max_batch_rows or not (
            self._in_flight or self.runner.inline(self._rows)
        ):
            self._flush()  # full, or a call for the model thread with the thread idle
        elif not self._in_flight and len(self._queue) >= self._cohort:
            if self._soon is None:  # with whatever else arrives in this turn of the loop
                self._soon = loop.call_soon(self._flush)
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        for handle in (self._timer, self._soon):
            if handle is not None:
                handle.cancel()
        self._timer = self._soon = None
        batch = [queued for queued in self._queue if not queued[2].done()]  # gone: not scored
        self._queue, self._rows = [], 0
        if not batch:
            return
        self._cohort = len(batch)
        try:
            categorical = np.concatenate([b[0] for b in batch]) if len(batch) > 1 else batch[0][0]
            numeric = np.concatenate([b[1] for b in batch]) if len(batch) > 1 else batch[0][1]
            BATCH_ROWS.observe(len(categorical))
            if not self.runner.inline(len(categorical)):
                call = self.runner.threaded(categorical, numeric)
                self._in_flight += 1
                call.add_done_callback(lambda done: self._threaded_done(batch, done))
                return
            result = self.runner.score(categorical, numeric)
        except Exception as error:  # noqa: BLE001 (handed to every caller in the batch)
            self._deliver(batch, None, error)
            return
        self._deliver(batch, result, None)

    def _threaded_done(self, batch, done: asyncio.Future) -> None:
        self._in_flight -= 1
        if done.cancelled():
            self._deliver(batch, None, RuntimeError("the model call was cancelled"))
        else:
            error = done.exception()
            self._deliver(batch, None if error else done.result(), error)
        if self._queue:
            self._flush()  # what queued behind the call goes next, without waiting longer

    def _deliver(self, batch, result: tuple | None, error: BaseException | None) -> None:
        """Each caller its own rows of every output; all of them the error, where there is
        one, an answer of the wrong length and taking the rows apart included."""
        answers = []
        if error is None:
            try:
                rows = sum(len(categorical) for categorical, _, _ in batch)
                result = tuple(result)
                for index, output in enumerate(result):
                    if np.ndim(output) == 0 or len(output) != rows:  # else callers get short rows
                        raise ValueError(
                            f"the model's output {index} has shape {np.shape(output)}, "
                            f"not one value for each of the call's {rows} rows"
                        )
                start = 0
                for categorical, _, _ in batch:
                    end = start + len(categorical)
                    answers.append(tuple(output[start:end] for output in result))
                    start = end
            except Exception as exc:  # noqa: BLE001 (handed to every caller in the batch)
                error = exc
        for index, (_, _, future) in enumerate(batch):
            if not future.done():  # a caller that went away has a cancelled future
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(answers[index])
