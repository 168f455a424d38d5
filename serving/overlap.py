"""Overlap the stages of a stream on few cores: one thread reads ahead, another writes
behind, each in order and at most `depth` items away from the caller, who does the middle
stage. It pays where each stage releases the GIL for its heavy part, as Parquet decoding and
encoding and onnxruntime do."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterator[T], depth: int) -> Iterator[T]:
    """`items`, produced by a background thread up to `depth` ahead of the consumer. An
    error producing an item is raised here, in its place; a consumer that stops early
    stops the thread after the item it is on."""
    with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
        pending = deque(pool.submit(next, items, _END) for _ in range(depth))
        try:
            while (item := pending.popleft().result()) is not _END:
                pending.append(pool.submit(next, items, _END))
                yield item
        finally:
            for future in pending:
                future.cancel()


class WriteBehind(Generic[T]):
    """Calls `write(item)` for each item put, by a background thread, in order, with at
    most `depth` items waiting. An error writing is raised by a later `put` or on a clean
    exit, which waits for the last write; an exit on an error drops what has not started."""

    def __init__(self, write: Callable[[T], object], depth: int):
        self._write = write
        self._depth = depth
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="write-behind")
        self._pending: deque[Future] = deque()

    def put(self, item: T) -> None:
        while len(self._pending) >= self._depth:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, item))

    def __enter__(self) -> WriteBehind[T]:
        return self

    def __exit__(self, error_type, *_) -> None:
        try:
            while error_type is None and self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
