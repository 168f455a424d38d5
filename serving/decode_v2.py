"""Open Inference Protocol v2 (REST and gRPC) into the model's inputs: one input per
feature, or one FP32 [rows, features] tensor in metadata order.

The plain request (one flat input per feature, in a datatype its feature accepts) is read
in one pass, from parsed JSON (`from_json`) or the protobuf message (`from_grpc`), without
KServe's per-input numpy conversion. Anything else takes the careful path, which names
what is wrong."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from operator import attrgetter, itemgetter

import numpy as np
from kserve.protocol.grpc.grpc_predict_v2_pb2 import ModelInferRequest
from kserve.protocol.infer_type import InferRequest

from serving.datatypes import GRPC_CONTENTS, NUMERIC_DATATYPES, TENSOR_DATATYPES
from serving.request_errors import RequestError
from serving.request_rules import ModelInputs, RequestRules, check_names, check_unique


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _flat_list(data) -> list | None:
    """The values as a flat, non-empty list, if they are one; a flat list needs no numpy
    round trip."""
    return data if type(data) is list and data and type(data[0]) is not list else None


def _listed_values(item, field: str = "") -> list | None:
    """KServe's `InferRequest` inputs (REST, or gRPC converted): values sent as raw bytes
    (gRPC `raw_input_contents`) leave the list empty."""
    return _flat_list(item.data)


def _json_values(item: dict, field: str = "") -> list | None:
    """An input of a v2 REST body as parsed JSON."""
    return _flat_list(item.get("data"))


def _contents_values(item, field: str) -> list:
    """gRPC: the values in the input's `contents` field for its datatype, as a list (numpy
    reads lists 5x faster than repeated fields; a slice makes the list 3x faster than
    `list()` does)."""
    return getattr(item.contents, field)[:]


_attribute_header = attrgetter("name", "datatype", "shape")  # InferInput, protobuf input
_json_header = itemgetter("name", "datatype", "shape")  # an input of a parsed JSON body


class V2Decoder:
    def __init__(self, rules: RequestRules):
        self.rules = rules
        self.layout = rules.layout

    def from_request(self, request: InferRequest) -> ModelInputs:
        """KServe's `InferRequest` (REST, or gRPC converted)."""
        columns = self._plain_columns(request.inputs, _attribute_header, _listed_values)
        if columns is None:
            return self._from_v2_inputs(request.inputs)
        return self._from_v2_columns(columns)

    def from_json(self, body: dict) -> tuple[ModelInputs, list[str]] | None:
        """A plain v2 REST request read from its parsed JSON: the inputs and the names of
        the outputs asked for. None for anything else, which goes through KServe's schema
        and `from_request`, and so is refused or read as KServe reads it. A request for
        outputs in binary form is not plain: KServe's response encoder writes those."""
        inputs = body.get("inputs")
        outputs, parameters = body.get("outputs") or [], body.get("parameters") or {}
        if type(inputs) is not list or type(outputs) is not list or type(parameters) is not dict:
            return None
        if not isinstance(body.get("id", ""), str | None) or "binary_data_output" in parameters:
            return None
        try:
            names = [output["name"] for output in outputs if len(output) == 1]
        except (TypeError, KeyError):
            return None
        if len(names) != len(outputs):
            return None
        columns = self._plain_columns(inputs, _json_header, _json_values)
        if columns is None or not all(type(name) is str for name in names):
            return None
        return self._from_v2_columns(columns), names

    def from_grpc(self, message: ModelInferRequest) -> ModelInputs:
        """OIP v2 over gRPC, read from the protobuf message itself. The plain request skips
        KServe's `InferRequest.from_grpc`, which costs several times this whole decode;
        anything else takes that road to `from_request`, which says what is wrong."""
        columns = (
            None
            if message.raw_input_contents
            else self._plain_columns(message.inputs, _attribute_header, _contents_values)
        )
        if columns is None:
            return self.from_request(InferRequest.from_grpc(message))
        return self._from_v2_columns(columns)

    def _plain_columns(
        self,
        inputs,
        header: Callable[[object], tuple],
        values: Callable[[object, str], list | None],
    ) -> dict | None:
        """The plain request, REST or gRPC, checked in one pass: one input per feature, each
        in a datatype its feature accepts, flat ([rows] or [rows, 1]), all of the same rows,
        within the batch limit. Its columns by feature; None for anything else, which goes
        the careful way that names what is wrong. `header(input)` reads an input's name,
        datatype and shape; `values(input, contents field)` its flat values (None: not
        flat). Parsed JSON can hold anything: what fails to read is not plain either."""
        if len(inputs) != len(self._v2_datatypes):
            return None
        fields = self._contents_fields
        columns = {}
        rows, plain_shapes = 0, ()
        try:
            for item in inputs:
                name, datatype, shape = header(item)
                field = fields.get((name, datatype))
                if field is None:
                    return None
                data = values(item, field)
                if data is None:
                    return None
                if not rows:
                    rows = len(data)
                    plain_shapes = ([rows], [rows, 1])
                if len(data) != rows or shape not in plain_shapes:
                    return None
                columns[name] = data
        except (KeyError, TypeError):
            return None
        if len(columns) != len(inputs) or not 0 < rows <= self.rules.max_batch_rows:
            return None  # a name repeated, an empty batch, too many rows
        return columns

    @cached_property
    def _contents_fields(self) -> dict[tuple[str, str], str]:
        """(feature, datatype): the gRPC `contents` field that carries it, for every pair
        accepted that has one (FP16 travels only as raw bytes: the careful way)."""
        return {
            (name, datatype): GRPC_CONTENTS[datatype]
            for name, datatypes in self._v2_datatypes.items()
            for datatype in datatypes
            if datatype in GRPC_CONTENTS
        }

    def _from_v2_inputs(self, inputs) -> ModelInputs:
        """Any other v2 request: a [rows, features] tensor, or inputs that break a rule,
        found and named here."""
        if (
            len(inputs) == 1
            and inputs[0].datatype in TENSOR_DATATYPES
            and (len(inputs[0].shape) == 2)
        ):
            return self._from_tensor(inputs[0])
        by_name = {item.name: item for item in inputs}
        if len(by_name) != len(inputs):
            check_unique([i.name for i in inputs], "inputs")
        if by_name.keys() != self._feature_names:
            check_names(list(by_name), self.layout.features, "inputs")
        rows = self._v2_rows(inputs[0])
        self.rules.check_rows(rows, f"input {inputs[0].name!r}")
        columns = {name: self._v2_values(by_name[name], rows) for name in self._v2_datatypes}
        return self._from_v2_columns(columns)

    def _from_v2_columns(self, columns: dict) -> ModelInputs:
        for name in self.layout.categorical:
            try:
                columns[name] = [v if type(v) is str else _text(v) for v in columns[name]]
            except UnicodeDecodeError as exc:
                raise RequestError("datatype", f"input {name!r}: not UTF-8 text: {exc}") from None
        numeric = self.rules.numeric_columns(columns, "input {!r}".format)
        return self.rules.inputs(columns, numeric)

    @cached_property
    def _feature_names(self) -> set[str]:
        return set(self.layout.features)

    @cached_property
    def _v2_datatypes(self) -> dict[str, frozenset[str]]:
        """Each feature with the v2 datatypes it accepts, in metadata order."""
        categorical = set(self.layout.categorical)
        return {
            name: frozenset({"BYTES"}) if name in categorical else NUMERIC_DATATYPES
            for name in self.layout.features
        }

    def _v2_rows(self, item) -> int:
        shape = list(item.shape)
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise RequestError(
                "shape", f"input {item.name!r}: shape {shape} must be [rows] or [rows, 1]"
            )
        return shape[0]

    def _v2_values(self, item, rows: int) -> list | np.ndarray:
        """One input's values, flat, checked against its shape and the feature's kind."""
        name, shape = item.name, item.shape
        if self._v2_rows(item) != rows:
            raise RequestError(
                "shape", f"input {name!r}: {shape[0]} rows, other inputs have {rows}"
            )
        if item.datatype not in self._v2_datatypes[name]:
            kind = "BYTES" if name in self.layout.categorical else "a numeric datatype"
            raise RequestError(
                "datatype", f"input {name!r}: datatype {item.datatype} must be {kind}"
            )
        try:
            values = _listed_values(item)
            if values is None:
                values = item.as_numpy().reshape(-1)
        except (ValueError, TypeError) as exc:
            raise RequestError(
                "shape", f"input {name!r}: data does not match shape {list(shape)}: {exc}"
            ) from None
        if len(values) != rows:
            raise RequestError(
                "shape", f"input {name!r}: {len(values)} values for shape {list(shape)}"
            )
        return values

    def _from_tensor(self, item) -> ModelInputs:
        """Columns in metadata order; categorical columns carry vocabulary codes (0:
        unseen), read back as their values for the graph."""
        width = len(self.layout.features)
        shape = list(item.shape)
        if shape[1] != width:
            raise RequestError(
                "shape",
                f"input {item.name!r}: shape {shape} must be [rows, {width}] "
                f"(features in order {self.layout.features})",
            )
        self.rules.check_rows(shape[0], f"input {item.name!r}")
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
        self.rules.check_numeric(numeric)
        values = self.layout.category_values
        categorical = np.array(
            [
                values[name][codes[:, j].astype(np.int64)]
                for j, name in enumerate(self.layout.categorical)
            ]
        )
        return ModelInputs(categorical.T, numeric)
