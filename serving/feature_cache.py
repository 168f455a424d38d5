"""Online feature values by entity, kept for a bounded time.

Most of a request's entities repeat (three origins, sixteen carriers, a few thousand
planes), so a value read from the online store is kept per (view group, entity) for at most
its TTL: `--feature_cache_ttl_s`, and never longer than the shortest TTL of the group's
feature views. The cache is emptied whenever a materialisation lands, which the transformer
sees in the registry as a newer last-updated time of a feature view. At most `max_entries`
entities are kept; the least recently used go first. Hits and misses are counted in
`sluice_feature_cache_total{outcome}`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

from serving.metrics import FEATURE_CACHE

TTL_S = 60.0
MAX_ENTRIES = 100_000


class FeatureCache:
    """Used from one thread (the transformer's reads)."""

    def __init__(self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic):
        self.max_entries, self.clock = max_entries, clock
        self._entries: OrderedDict[Hashable, tuple[float, tuple]] = OrderedDict()
        self._hits, self._misses = FEATURE_CACHE.labels("hit"), FEATURE_CACHE.labels("miss")

    def get(self, key: Hashable) -> tuple | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= self.clock():
            self._misses.inc()
            return None
        self._entries.move_to_end(key)
        self._hits.inc()
        return entry[1]

    def put(self, key: Hashable, values: tuple, ttl_s: float) -> None:
        if ttl_s <= 0:  # the cache is off
            return
        self._entries[key] = (self.clock() + ttl_s, values)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
