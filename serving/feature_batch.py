"""Online features for concurrent requests: one read serves every request waiting for it.

While the store is idle a request is read at once, so a lone caller waits for nothing; while
a read is in flight, arriving requests queue, and when it lands the next read takes them all
(`serving.coalesce`). Feast's per-call cost (resolving the feature service, building its
response) and the request-time derivation are then paid once per read, not once per request.
Reads run on the transformer's thread, never on the event loop. A read that fails answers
every request in it with a 503, and while the store is down requests are refused without a
read (`serving.online_store`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

from serving.coalesce import Coalescer
from serving.columns import Columns, merged, split
from serving.metrics import COALESCED_REQUESTS
from serving.online_store import UNAVAILABLE_ERRORS, OnlineStoreHealth, OnlineStoreUnavailable


class FeatureBatcher:
    def __init__(
        self, build: Callable[[Columns], Columns], health: OnlineStoreHealth, executor: Executor
    ):
        self.build, self.health, self.executor = build, health, executor
        self.reads = Coalescer(self._read)  # one read out; a read is bounded by its timeout
        self.requests_per_read = COALESCED_REQUESTS.labels("online_read")

    async def submit(self, flights: Columns) -> Columns:
        """`build(flights)`, as part of one call for every request waiting with this one."""
        return await self.reads.submit(flights)

    async def _read(self, batch: list[Columns]) -> list[Columns | BaseException]:
        if not self.health.up:
            detail = self.health.refused(len(batch))
            return [OnlineStoreUnavailable(detail) for _ in batch]
        self.requests_per_read.observe(len(batch))
        loop = asyncio.get_running_loop()
        try:  # the store's health counts reads, which `build` reports itself
            columns = await loop.run_in_executor(self.executor, self.build, merged(batch))
        except UNAVAILABLE_ERRORS as error:
            detail = self.health.failed(error, len(batch))
            return [OnlineStoreUnavailable(detail) for _ in batch]
        return split(columns, batch)
