"""The two samples a drift check compares, read and checked, and encoded as the one float
matrix both detectors take: categorical columns first (as codes), then numeric ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from components.base.contract.metadata import ModelMetadata

MISSING = -np.inf
"""A missing numeric value sorts below every value: a change in the missing share then
shifts the empirical distribution like any other change, and KS sees it."""
MISSING_CATEGORY = "<missing>"


class InputError(ValueError):
    """Input a drift check cannot take; its message is one line naming the file or column."""


@dataclass(frozen=True)
class Features:
    """The features compared, by kind: chi-squared for categorical ones, KS for numeric."""

    categorical: tuple[str, ...]
    numeric: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.categorical, *self.numeric)

    def without(self, excluded: Iterable[str]) -> Features:
        drop = set(excluded)
        return Features(
            tuple(f for f in self.categorical if f not in drop),
            tuple(f for f in self.numeric if f not in drop),
        )

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata) -> Features:
        """The model's own layout, as training wrote it into the artifact."""
        return cls(tuple(metadata.categorical), tuple(metadata.numeric))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Features:
        """Without a model: every column by its type; timestamps are left out, since they
        differ between any two windows by construction."""
        categorical, numeric = [], []
        for name, dtype in frame.dtypes.items():
            if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
                numeric.append(str(name))
            elif pd.api.types.is_object_dtype(dtype) or isinstance(
                dtype, pd.CategoricalDtype | pd.StringDtype
            ):
                categorical.append(str(name))
        return cls(tuple(categorical), tuple(numeric))


def read_parquet(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow's errors for a non-Parquet file vary by cause
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: not a readable Parquet file ({reason})") from None


def reference_sample(metadata: ModelMetadata, model_dir: Path) -> pd.DataFrame:
    """The training rows the artifact carries for exactly this comparison."""
    if not metadata.reference_sample:
        raise InputError(f"{model_dir}: metadata.json has no reference_sample; pass --reference")
    return pd.DataFrame(metadata.reference_sample)


def require(frame: pd.DataFrame, features: Features, source: str) -> None:
    missing = [f for f in features.names if f not in frame.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}")
    if frame.empty:
        raise InputError(f"{source}: no rows")


def encode(
    reference: pd.DataFrame, current: pd.DataFrame, features: Features, sources: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Both samples as float64 [rows, features]. Category codes index the union of both
    samples' values, so a value only one side has is a category of its own."""
    columns: list[tuple[np.ndarray, np.ndarray]] = []
    for name in features.categorical:
        ref, cur = (_labels(frame[name]) for frame in (reference, current))
        codes, _ = pd.factorize(np.concatenate([ref, cur]), sort=True)
        columns.append((codes[: len(ref)].astype(float), codes[len(ref) :].astype(float)))
    for name in features.numeric:
        columns.append(
            tuple(
                _numbers(frame[name], name, source)
                for frame, source in zip((reference, current), sources, strict=True)
            )
        )
    if not columns:
        raise InputError("no features left to compare")
    return tuple(np.column_stack(side) for side in zip(*columns, strict=True))  # type: ignore[return-value]


def _labels(values: pd.Series) -> np.ndarray:
    return values.astype(object).where(values.notna(), MISSING_CATEGORY).astype(str).to_numpy()


def _numbers(values: pd.Series, name: str, source: str) -> np.ndarray:
    try:
        out = pd.to_numeric(values, errors="raise").to_numpy(
            dtype=float, na_value=np.nan, copy=True
        )
    except (ValueError, TypeError):
        raise InputError(f"{source}: column {name} is not numeric") from None
    out[np.isnan(out)] = MISSING
    return out
