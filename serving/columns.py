"""Requests as columns (name → one value per row), merged into one batch and split back."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

Columns = dict[str, list]
"""Name → one value per flight: a request's fields, or a model input's features."""


def row_count(columns: Columns) -> int:
    return len(next(iter(columns.values())))


def merged(batch: list[Columns]) -> Columns:
    """The rows of every request, in order, under the first one's names."""
    if len(batch) == 1:
        return batch[0]
    return {name: [v for columns in batch for v in columns[name]] for name in batch[0]}


def spans(sizes: Sequence[int]) -> list[slice]:
    """Where each of consecutive parts of these sizes lies in their concatenation."""
    return [slice(end - size, end) for size, end in zip(sizes, accumulate(sizes), strict=True)]


def split(columns: Columns, batch: list[Columns]) -> list[Columns]:
    """`columns`, one row per row of `batch`'s requests, cut back into one per request."""
    return [
        {name: values[span] for name, values in columns.items()}
        for span in spans([row_count(request) for request in batch])
    ]
