"""Decode and validate inference requests into the model's input arrays.

Every client error raises `RequestError` (a KServe `InvalidInput`: HTTP 400, gRPC
INVALID_ARGUMENT) whose message names the field and the rule, and whose `reason` is a
fixed, low-cardinality label for `sluice_invalid_requests_total`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import orjson
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


def _flat(data) -> bool:
    return isinstance(data, list) and (not data or not isinstance(data[0], list))


class RequestError(InvalidInput):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.label = reason


def parse_json_body(payload):
    """A v1 body that reached the model as bytes (no JSON content type) is parsed here."""
    if not isinstance(payload, bytes | bytearray):
        return payload
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RequestError("malformed", f"body: not valid JSON: {exc}") from None


def check_names(names, expected: list[str], where: str, noun: str = "feature") -> None:
    """Every expected name present, nothing else."""
    unknown = sorted(set(names) - set(expected))
    if unknown:
        raise RequestError("unknown_feature", f"{where}: unknown {noun}(s) {unknown}")
    missing = [name for name in expected if name not in names]
    if missing:
        raise RequestError("missing_feature", f"{where}: missing {noun}(s) {missing}")


@dataclass
class ModelInputs:
    categorical: np.ndarray
    numeric: np.ndarray
    unseen: dict[str, int] = field(default_factory=dict)


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

    @cached_property
    def _bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        names = self.layout.numeric
        low = np.array([self.ranges.get(n, (-np.inf, np.inf))[0] for n in names], np.float32)
        high = np.array([self.ranges.get(n, (-np.inf, np.inf))[1] for n in names], np.float32)
        required = np.array([n in self.required for n in names])
        return low, high, required

    def check_numeric(self, numeric: np.ndarray) -> None:
        """Vectorised over the whole matrix: infinities never, NaN only for nullable
        features, ranges always. The message names the first offending feature and row."""
        low, high, required = self._bounds
        nan = np.isnan(numeric)
        checks = (
            ("non_finite", np.isinf(numeric), "inf is not allowed"),
            ("non_finite", nan & required, "a value is required (got NaN/null)"),
            ("out_of_range", ~nan & ((numeric < low) | (numeric > high)), None),
        )
        for reason, bad, rule in checks:
            if bad.any():
                row, column = (int(i[0]) for i in np.nonzero(bad))
                name = self.layout.numeric[column]
                value = numeric[row, column]
                rule = rule or f"{value:g} is outside [{low[column]:g}, {high[column]:g}]"
                raise RequestError(reason, f"feature {name!r} row {row}: {rule}")

    def _encode(self, columns, numeric: np.ndarray) -> ModelInputs:
        self.check_numeric(numeric)
        categorical, unseen = self.layout.encode_categorical(columns)
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
                check_names(list(instance), self.layout.features, f"instances[{i}]")
        columns = {name: [item[name] for item in instances] for name in self.layout.features}
        for name in self.layout.categorical:
            for row, value in enumerate(columns[name]):
                if not isinstance(value, str):
                    raise RequestError(
                        "datatype", f"instances[{row}].{name}: expected a string, got {value!r}"
                    )
        for name in self.layout.numeric:
            for row, value in enumerate(columns[name]):
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    raise RequestError(
                        "datatype",
                        f"instances[{row}].{name}: expected a number or null, got {value!r}",
                    )
        numeric = np.array(
            [columns[name] for name in self.layout.numeric], dtype=np.float32
        ).T.reshape(len(instances), len(self.layout.numeric))
        return self._encode(columns, np.ascontiguousarray(numeric))

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
        check_names(names, self.layout.features, "inputs")
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
                data = item.data
                # A flat JSON list needs no numpy round trip (the common REST case).
                values = data if _flat(data) else item.as_numpy().reshape(-1)
            except (ValueError, TypeError) as exc:
                raise RequestError(
                    "shape", f"input {item.name!r}: data does not match shape {shape}: {exc}"
                ) from None
            if len(values) != rows:
                raise RequestError(
                    "shape", f"input {item.name!r}: {len(values)} values for shape {shape}"
                )
            if categorical:
                values = [v.decode() if isinstance(v, bytes) else str(v) for v in values]
            columns[item.name] = values
        numeric = np.stack(
            [np.asarray(columns[name], dtype=np.float32) for name in self.layout.numeric], axis=1
        )
        return self._encode(columns, numeric)

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
