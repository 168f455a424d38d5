"""When a materialisation lands: the transformer's feature cache is emptied then.

A materialisation moves a feature view's last-updated time in the registry. The registry is
read every `every_s` on a thread of its own, and a read waits for it at most `timeout_s`: a
registry that hangs (a SQL registry's database stalled) must not hold up the online-store
reads behind it. Until a late answer lands, or while the registry fails, the cache is left
to its TTL, which still bounds what is served; no second check starts while one is pending.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor, wait

EVERY_S = 5.0
"""How often the registry is read for a materialisation that landed."""
TIMEOUT_S = 0.5
"""How long a read waits for the registry: a file or SQL registry answers in milliseconds."""
logger = logging.getLogger("kserve.sluice")


class MaterialisationWatch:
    """Used from one thread (the transformer's reads)."""

    def __init__(
        self,
        read_stamp: Callable[[], Hashable],
        every_s: float = EVERY_S,
        timeout_s: float = TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.read_stamp, self.every_s, self.timeout_s = read_stamp, every_s, timeout_s
        self.clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry")
        self._stamp: Hashable = None
        self._due = 0.0
        self._pending: Future | None = None

    def landed(self) -> bool:
        """True once the registry's stamp has moved since the last answer: a check when one
        is due (waited for up to `timeout_s`), or a late answer to an earlier one."""
        if self._pending is None:
            now = self.clock()
            if now < self._due:
                return False
            self._due = now + self.every_s
            self._pending = self._thread.submit(self.read_stamp)
            if wait([self._pending], self.timeout_s).not_done:
                logger.warning(
                    "registry did not answer in %g s: cache kept to its TTL until it does",
                    self.timeout_s,
                )
        if not self._pending.done():
            return False
        check, self._pending = self._pending, None
        try:
            stamp = check.result()
        except Exception as error:  # noqa: BLE001 (the TTL still bounds what is served)
            logger.warning("registry unreadable, cache kept to its TTL: %s", error)
            return False
        moved, self._stamp = stamp != self._stamp, stamp
        return moved
