"""The rules every request meets, whatever its protocol: every feature present and nothing
else, the batch within its limit, numbers finite and in range, null only where allowed.
The decoders (`decode_v1`, `decode_v2`) read a request into columns and hand them here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from components.base.contract.layout import FeatureLayout
from components.base.contract.metadata import ModelMetadata
from serving.request_errors import RequestError


def check_names(names, expected: list[str], where: str, noun: str = "feature") -> None:
    """Every expected name present, nothing else."""
    unknown = sorted(set(names) - set(expected))
    if unknown:
        raise RequestError("unknown_feature", f"{where}: unknown {noun}(s) {unknown}")
    missing = [name for name in expected if name not in names]
    if missing:
        raise RequestError("missing_feature", f"{where}: missing {noun}(s) {missing}")


def check_rows(rows: int, limit: int, where: str) -> None:
    """A batch of at least one row and at most `limit`."""
    if rows == 0:
        raise RequestError("shape", f"{where}: the batch is empty")
    if rows > limit:
        raise RequestError(
            "batch_too_large", f"{where}: batch of {rows} rows exceeds the limit of {limit}"
        )


def check_unique(names: list[str], where: str) -> None:
    """No input given twice."""
    repeated = sorted(n for n, k in Counter(names).items() if k > 1)
    if repeated:
        raise RequestError("duplicate_feature", f"{where}: {repeated} given more than once")


@dataclass
class ModelInputs:
    """The raw features as the model takes them (`FeatureLayout.arrays`): text, object
    [rows, categorical], and float32 [rows, numeric]."""

    categorical: np.ndarray
    numeric: np.ndarray


@dataclass(frozen=True)
class RequestRules:
    layout: FeatureLayout
    ranges: dict[str, tuple[float, float]]
    required: frozenset[str]
    max_batch_rows: int

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata, max_batch_rows: int) -> RequestRules:
        return cls(
            layout=FeatureLayout.from_metadata(metadata),
            # Models exported before ranges were recorded serve without range checks.
            ranges={k: (float(v[0]), float(v[1])) for k, v in metadata.valid_ranges.items()},
            required=metadata.required_features,
            max_batch_rows=max_batch_rows,
        )

    def check_rows(self, rows: int, where: str) -> None:
        check_rows(rows, self.max_batch_rows, where)

    @cached_property
    def _bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        names = self.layout.numeric
        low = np.array([self.ranges.get(n, (-np.inf, np.inf))[0] for n in names], np.float32)
        high = np.array([self.ranges.get(n, (-np.inf, np.inf))[1] for n in names], np.float32)
        required = np.array([n in self.required for n in names])
        return low, high, required

    @cached_property
    def _finite_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The bounds with infinities replaced by the largest finite float32, so that a
        comparison with them also refuses inf (and NaN, which compares false)."""
        low, high, _ = self._bounds
        largest = np.finfo(np.float32).max
        return np.maximum(low, -largest), np.minimum(high, largest)

    def _passes(self, numeric: np.ndarray) -> bool:
        """Whether every check passes, as cheaply as the input allows. Without NaN, two
        comparisons (a row or a few: 2.5 µs). With NaN, which a nullable feature of a file
        often holds, three reductions per column rather than `check_numeric`'s ten passes
        over the matrix (65,536 rows of the flights: 0.036 against 0.106 s per million
        rows): the least and greatest numbers (`fmin`, `fmax` skip NaN; an infinity is
        outside the finite bounds; a column all NaN has none), and whether a required
        feature holds a NaN (`minimum` keeps it)."""
        low, high = self._finite_bounds
        if ((numeric >= low) & (numeric <= high)).all():
            return True  # no NaN, nothing out of range (an empty matrix too)
        _, _, required = self._bounds
        least = np.fmin.reduce(numeric, axis=0)
        unheld = np.isnan(least)  # a column all NaN: no number to bound
        if not ((least >= low) | unheld).all():
            return False
        if not ((np.fmax.reduce(numeric, axis=0) <= high) | unheld).all():
            return False
        return not (np.isnan(np.minimum.reduce(numeric, axis=0)) & required).any()

    def check_numeric(self, numeric: np.ndarray, first_row: int = 0) -> None:
        """Vectorised over the whole matrix: infinities never, NaN only for nullable
        features, ranges always. The message names the first offending feature and row,
        counted from `first_row` (a slice of a longer input names the row in all of it)."""
        if self._passes(numeric):
            return
        for reason, broken, rule in self._broken(numeric):
            if broken.any():
                row, column = (int(i[0]) for i in np.nonzero(broken))
                name = self.layout.numeric[column]
                raise RequestError(
                    reason, f"feature {name!r} row {first_row + row}: {rule(numeric, row, column)}"
                )

    def refusals(self, numeric: np.ndarray) -> dict[int, str]:
        """The rows `check_numeric` refuses, in order, each with every rule it breaks
        (`feature 'x': rule; ...`): for a caller that sets them aside rather than refuse
        them all (`sluice predict --quarantine`). Empty, at `_passes`' cost, when none is."""
        if self._passes(numeric):
            return {}
        reasons: dict[int, list[str]] = {}
        for _, broken, rule in self._broken(numeric):
            for row, column in zip(*(i.tolist() for i in np.nonzero(broken)), strict=True):
                said = f"feature {self.layout.numeric[column]!r}: {rule(numeric, row, column)}"
                reasons.setdefault(row, []).append(said)
        return {row: "; ".join(reasons[row]) for row in sorted(reasons)}

    def _broken(self, numeric: np.ndarray) -> list[tuple[str, np.ndarray, Callable]]:
        """Each check in the order its refusals are named: the reason, the cells [rows,
        numeric] that break it, and what its rule says of a cell."""
        low, high, required = self._bounds
        return [
            ("non_finite", np.isinf(numeric), lambda *_: "inf is not allowed"),
            (
                "non_finite",
                np.isnan(numeric) & required,
                lambda *_: "a value is required (got NaN/null)",
            ),
            (
                "out_of_range",  # a number: an infinity breaks the first rule alone
                np.isfinite(numeric) & ((numeric < low) | (numeric > high)),
                lambda values, row, column: (
                    f"{values[row, column]:g} is outside [{low[column]:g}, {high[column]:g}]"
                ),
            ),
        ]

    def numeric_columns(self, columns, where: Callable[[str], str]) -> np.ndarray:
        """float32 [rows, numeric] in one conversion; null becomes NaN. A value that is not
        a number is refused, naming its feature (`where(name)` says where it came from)."""
        try:
            matrix = np.array([columns[n] for n in self.layout.numeric], dtype=np.float32)
        except (ValueError, TypeError):
            for name in self.layout.numeric:
                try:
                    np.asarray(columns[name], dtype=np.float32)
                except (ValueError, TypeError) as exc:
                    raise RequestError(
                        "datatype", f"{where(name)}: expected numbers: {exc}"
                    ) from None
            raise
        return np.ascontiguousarray(matrix.T)

    def inputs(self, columns, numeric: np.ndarray) -> ModelInputs:
        """The checked numbers with the categorical columns (lists of str) beside them. The
        graph looks the categories up and says which it has not seen."""
        self.check_numeric(numeric)
        categorical = np.array([columns[n] for n in self.layout.categorical], dtype=object)
        return ModelInputs(categorical.T, numeric)
