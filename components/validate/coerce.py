"""Bring raw tables to their schema types, recording every value that does not fit."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from components.flights.schema import event_time


@dataclass
class TypeFailure:
    column: str
    kind: str
    rows: list[int]
    examples: list[str]


def coerce_table(
    raw: pd.DataFrame, schema: dict[str, str]
) -> tuple[pd.DataFrame, list[TypeFailure]]:
    """Numeric and time columns are parsed; a non-empty value that does not parse is a
    type failure on that row (it becomes missing in the returned frame, and the row is
    quarantined by the caller). Columns absent from `raw` are left absent."""
    frame = raw.copy()
    failures: list[TypeFailure] = []
    for column, kind in schema.items():
        if column not in frame.columns:
            continue
        original = frame[column]
        if kind in ("int", "float"):
            parsed = pd.to_numeric(original, errors="coerce")
            if pd.api.types.is_bool_dtype(original):
                parsed = pd.Series(float("nan"), index=original.index)
            parsed = parsed.astype("float64")
        elif kind == "time":
            parsed = event_time(original)
        else:
            parsed = original.where(original.isna(), original.astype(str))
        bad = original.notna() & parsed.isna()
        if kind in ("int", "float"):
            bad |= parsed.isin([float("inf"), float("-inf")])
        if kind == "int":
            bad |= parsed.notna() & (parsed % 1 != 0)
        if bad.any():
            failures.append(
                TypeFailure(
                    column=column,
                    kind=kind,
                    rows=[int(i) for i in frame.index[bad]],
                    examples=[str(v) for v in original[bad].head(3)],
                )
            )
            parsed = parsed.mask(bad)
        frame[column] = parsed
    return frame, failures
