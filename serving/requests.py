"""Decode and validate inference requests into the model's input arrays.

Every client error raises `RequestError` (a KServe `InvalidInput`: HTTP 400, gRPC
INVALID_ARGUMENT) whose message names the field and the rule, and whose `reason` is a
fixed, low-cardinality label for `sluice_invalid_requests_total`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest

from serving.features import FeatureLayout

NUMERIC_DATATYPES = {
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
}
TENSOR_DATATYPES = {"FP32", "FP64"}


class RequestError(InvalidInput):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.label = reason


@dataclass
class ModelInputs:
    categorical: np.ndarray
    numeric: np.ndarray
    unseen: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.categorical)


@dataclass(frozen=True)
class RequestRules:
    layout: FeatureLayout
    ranges: dict[str, tuple[float, float]]
    required: frozenset[str]
    max_batch_rows: int

    @classmethod
    def from_metadata(cls, metadata: dict, max_batch_rows: int) -> RequestRules:
        return cls(
            layout=FeatureLayout.from_metadata(metadata),
            # Models exported before ranges were recorded serve without range checks.
            ranges={
                k: (float(v[0]), float(v[1])) for k, v in metadata.get("valid_ranges", {}).items()
            },
            required=frozenset(metadata.get("required", metadata["categorical"])),
            max_batch_rows=max_batch_rows,
        )

    # --- shared checks -------------------------------------------------------------------

    def _check_rows(self, rows: int, where: str) -> None:
        if rows == 0:
            raise RequestError("shape", f"{where}: the batch is empty")
        if rows > self.max_batch_rows:
            raise RequestError(
                "batch_too_large",
                f"{where}: batch of {rows} rows exceeds the limit of {self.max_batch_rows}",
            )

    def _check_names(self, names: list[str], where: str) -> None:
        expected = self.layout.features
        unknown = sorted(set(names) - set(expected))
        if unknown:
            raise RequestError("unknown_feature", f"{where}: unknown feature(s) {unknown}")
        missing = [f for f in expected if f not in names]
        if missing:
            raise RequestError("missing_feature", f"{where}: missing feature(s) {missing}")

    def check_numeric(self, numeric: np.ndarray) -> None:
        """Vectorised: infinities never, NaN only for nullable features, ranges always."""
        for j, name in enumerate(self.layout.numeric):
            column = numeric[:, j]
            nan = np.isnan(column)
            if np.isinf(column).any():
                row = int(np.flatnonzero(np.isinf(column))[0])
                raise RequestError("non_finite", f"feature {name!r} row {row}: inf is not allowed")
            if name in self.required and nan.any():
                row = int(np.flatnonzero(nan)[0])
                raise RequestError(
                    "non_finite", f"feature {name!r} row {row}: a value is required (got NaN/null)"
                )
            low, high = self.ranges.get(name, (-math.inf, math.inf))
            bad = ~nan & ((column < low) | (column > high))
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise RequestError(
                    "out_of_range",
                    f"feature {name!r} row {row}: {column[row]:g} is outside [{low:g}, {high:g}]",
                )

    def _encode(self, frame: pd.DataFrame, numeric: np.ndarray) -> ModelInputs:
        self.check_numeric(numeric)
        categorical, unseen = self.layout.encode_categorical(frame)
        return ModelInputs(categorical, numeric, unseen)

    # --- v1: {"instances": [{feature: value, ...}, ...]} -----------------------------------

    def from_v1(self, payload) -> ModelInputs:
        if not isinstance(payload, dict) or "instances" not in payload:
            raise RequestError("malformed", 'body: expected a JSON object with "instances"')
        instances = payload["instances"]
        if not isinstance(instances, list):
            raise RequestError("shape", '"instances": expected a list of feature objects')
        self._check_rows(len(instances), '"instances"')
        for i, instance in enumerate(instances):
            if not isinstance(instance, dict):
                raise RequestError("shape", f"instances[{i}]: expected an object of features")
            if len(instance) != len(self.layout.features) or instance.keys() - set(
                self.layout.features
            ):
                self._check_names(list(instance), f"instances[{i}]")
        frame = pd.DataFrame.from_records(instances, columns=self.layout.features)
        for name in self.layout.categorical:
            values = frame[name]
            wrong = ~values.map(lambda v: isinstance(v, str))
            if wrong.any():
                row = int(np.flatnonzero(wrong.to_numpy())[0])
                raise RequestError(
                    "datatype",
                    f"instances[{row}].{name}: expected a string, got {values.iloc[row]!r}",
                )
        numeric_frame = frame[self.layout.numeric]
        if not all(pd.api.types.is_numeric_dtype(t) for t in numeric_frame.dtypes):
            for name in self.layout.numeric:
                wrong = ~frame[name].map(
                    lambda v: v is None or (isinstance(v, int | float) and not isinstance(v, bool))
                )
                if wrong.any():
                    row = int(np.flatnonzero(wrong.to_numpy())[0])
                    raise RequestError(
                        "datatype",
                        f"instances[{row}].{name}: expected a number or null, "
                        f"got {frame[name].iloc[row]!r}",
                    )
        numeric = numeric_frame.to_numpy(dtype=np.float32, na_value=np.nan)
        return self._encode(frame, numeric)

    # --- v2 (REST and gRPC): one input per feature, or one FP32 [rows, features] tensor ----

    def from_v2(self, request: InferRequest) -> ModelInputs:
        inputs = request.inputs
        if (
            len(inputs) == 1
            and inputs[0].datatype in TENSOR_DATATYPES
            and (len(inputs[0].shape) == 2)
        ):
            return self._from_tensor(inputs[0])
        names = [i.name for i in inputs]
        self._check_names(names, "inputs")
        columns: dict[str, np.ndarray] = {}
        rows = None
        for item in inputs:
            shape = list(item.shape)
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                raise RequestError(
                    "shape", f"input {item.name!r}: shape {shape} must be [rows] or [rows, 1]"
                )
            if rows is None:
                rows = shape[0]
                self._check_rows(rows, f"input {item.name!r}")
            elif shape[0] != rows:
                raise RequestError(
                    "shape", f"input {item.name!r}: {shape[0]} rows, other inputs have {rows}"
                )
            categorical = item.name in self.layout.categorical
            expected = {"BYTES"} if categorical else NUMERIC_DATATYPES
            if item.datatype not in expected:
                kind = "BYTES" if categorical else "a numeric datatype"
                raise RequestError(
                    "datatype", f"input {item.name!r}: datatype {item.datatype} must be {kind}"
                )
            try:
                values = item.as_numpy().reshape(-1)
            except (ValueError, TypeError) as exc:
                raise RequestError(
                    "shape", f"input {item.name!r}: data does not match shape {shape}: {exc}"
                ) from None
            if len(values) != rows:
                raise RequestError(
                    "shape", f"input {item.name!r}: {len(values)} values for shape {shape}"
                )
            if categorical:
                values = np.array(
                    [v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=object
                )
            columns[item.name] = values
        frame = pd.DataFrame({name: columns[name] for name in self.layout.categorical})
        numeric = np.stack(
            [columns[name].astype(np.float32) for name in self.layout.numeric], axis=1
        )
        return self._encode(frame, numeric)

    def _from_tensor(self, item) -> ModelInputs:
        """Columns in metadata order; categorical columns carry vocabulary indices."""
        width = len(self.layout.features)
        shape = list(item.shape)
        if shape[1] != width:
            raise RequestError(
                "shape",
                f"input {item.name!r}: shape {shape} must be [rows, {width}] "
                f"(features in order {self.layout.features})",
            )
        self._check_rows(shape[0], f"input {item.name!r}")
        try:
            tensor = item.as_numpy().astype(np.float32).reshape(shape)
        except (ValueError, TypeError) as exc:
            raise RequestError("shape", f"input {item.name!r}: {exc}") from None
        n_cat = len(self.layout.categorical)
        codes = tensor[:, :n_cat]
        for j, name in enumerate(self.layout.categorical):
            size = len(self.layout.vocabularies[name])
            column = codes[:, j]
            bad = ~np.isfinite(column) | (column % 1 != 0) | (column < 0) | (column > size)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise RequestError(
                    "out_of_range",
                    f"feature {name!r} row {row}: {column[row]:g} is not a category index "
                    f"in [0, {size}]",
                )
        numeric = np.ascontiguousarray(tensor[:, n_cat:])
        self.check_numeric(numeric)
        unseen = {
            name: int((codes[:, j] == 0).sum()) for j, name in enumerate(self.layout.categorical)
        }
        return ModelInputs(codes.astype(np.int64), numeric, unseen)
