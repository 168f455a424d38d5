"""The latest logged rows of one model version: a sliding window that is checked each time
`every` new rows have come in since the last check, once it is full."""

from __future__ import annotations

from collections import deque

import pandas as pd


class Window:
    def __init__(self, size: int, every: int):
        if size < 2 or not 1 <= every:
            raise ValueError(f"window {size}, every {every}: a window of 2+ rows, every 1+")
        self.size = size
        self.every = every
        self.columns: tuple[str, ...] | None = None
        self._rows: deque[tuple] = deque(maxlen=size)
        self._scores: deque[float] = deque(maxlen=size)
        self._new = 0

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, columns: dict[str, list], scores: list[float]) -> None:
        """Rows as columns; a request may name its features in any order, and the window
        keeps the first request's (a request with other features starts a new window)."""
        names = self.columns
        if names is None or (len(columns) != len(names) or columns.keys() != set(names)):
            if names is not None:
                self._rows.clear()
                self._scores.clear()
            self.columns = names = tuple(columns)
        self._rows.extend(zip(*(columns[n] for n in names), strict=True))
        self._scores.extend(scores)
        self._new += len(scores)

    def due(self) -> bool:
        return len(self._rows) == self.size and self._new >= self.every

    def skip(self) -> None:
        """Let a due check pass (the last one still runs): the count starts again."""
        self._new = 0

    def take(self) -> tuple[pd.DataFrame, list[float]]:
        """The window as it is now, for a check; the count toward the next starts again."""
        self._new = 0
        frame = pd.DataFrame.from_records(list(self._rows), columns=list(self.columns or ()))
        return frame, list(self._scores)
