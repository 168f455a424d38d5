"""Request decoding and validation, without a server: every client error names its field
and carries a fixed reason label; good requests decode to the same arrays on every path."""

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest
from kserve.protocol.rest.v2_datamodels import InferenceRequest

from serving.predictor import OUTPUTS, requested_outputs
from serving.requests import (
    RequestError,
    RequestRules,
    parse_json_body,
    parse_json_object,
    validated_v2_request,
)

METADATA = {
    "categorical": ["carrier", "origin"],
    "numeric": ["hour", "distance", "temp"],
    "vocabularies": {"carrier": ["AA", "UA"], "origin": ["EWR", "JFK", "LGA"]},
    "valid_ranges": {"hour": [0, 23], "distance": [1, 5000], "temp": [-40, 120]},
    "required": ["carrier", "origin", "hour", "distance"],
}
RULES = RequestRules.from_metadata(METADATA, max_batch_rows=100)
ROWS = [
    {"carrier": "UA", "origin": "JFK", "hour": 9, "distance": 1000, "temp": 55.5},
    {"carrier": "ZZ", "origin": "EWR", "hour": 23, "distance": 17, "temp": None},
]
CODES = np.array([[2, 2], [0, 1]])
NUMBERS = np.array([[9, 1000, 55.5], [23, 17, np.nan]], np.float32)


def _v2(rows=ROWS, **change):
    inputs = []
    for name in [*METADATA["categorical"], *METADATA["numeric"]]:
        values = [row[name] for row in rows]
        if name in METADATA["categorical"]:
            inputs.append(InferInput(name, [len(rows)], "BYTES", [v.encode() for v in values]))
        else:
            inputs.append(InferInput(name, [len(rows)], "FP32", values))
    for name, replacement in change.items():
        index = next(i for i, item in enumerate(inputs) if item.name == name)
        if replacement is None:
            inputs.pop(index)
        else:
            inputs[index] = replacement
    return InferRequest("m", inputs)


def test_v1_v2_and_the_single_tensor_decode_alike():
    tensor = np.hstack([CODES, np.nan_to_num(NUMBERS, nan=np.nan)]).astype(np.float32)
    item = InferInput("input-0", list(tensor.shape), "FP32")
    item.set_data_from_numpy(tensor, binary_data=False)
    for decoded in (
        RULES.from_v1({"instances": ROWS}),
        RULES.from_v2(_v2()),
        RULES.from_v2(InferRequest("m", [item])),
    ):
        np.testing.assert_array_equal(decoded.categorical, CODES)
        np.testing.assert_array_equal(decoded.numeric, NUMBERS)
        assert decoded.categorical.flags.c_contiguous and decoded.numeric.flags.c_contiguous
        assert decoded.unseen == {"carrier": 1, "origin": 0}


def test_inputs_may_come_in_any_order_and_as_rows_by_one():
    inputs = list(reversed(_v2().inputs))
    for item in inputs:
        item.shape = [len(ROWS), 1]
    decoded = RULES.from_v2(InferRequest("m", inputs))
    np.testing.assert_array_equal(decoded.numeric, NUMBERS)


V1_ERRORS = [
    ("no instances", {"rows": []}, "malformed", "instances"),
    ("instances not a list", {"instances": {"a": 1}}, "shape", "instances"),
    ("empty", {"instances": []}, "shape", "empty"),
    ("over the limit", {"instances": ROWS * 51}, "batch_too_large", "limit of 100"),
    ("row not an object", {"instances": [1]}, "shape", "instances[0]"),
    ("unknown", {"instances": [{**ROWS[0], "colour": "red"}]}, "unknown_feature", "colour"),
    ("category type", {"instances": [{**ROWS[0], "carrier": 7}]}, "datatype", "carrier"),
    ("number type", {"instances": [{**ROWS[0], "hour": "nine"}]}, "datatype", "hour"),
    ("bool is not a number", {"instances": [{**ROWS[0], "hour": True}]}, "datatype", "hour"),
    ("null required", {"instances": [{**ROWS[0], "distance": None}]}, "non_finite", "distance"),
    ("out of range", {"instances": [{**ROWS[0], "hour": 31}]}, "out_of_range", "hour"),
]


@pytest.mark.parametrize(
    ("case", "body", "reason", "names"), V1_ERRORS, ids=[c[0] for c in V1_ERRORS]
)
def test_v1_client_errors_name_the_field(case, body, reason, names):
    with pytest.raises(RequestError) as error:
        RULES.from_v1(body)
    assert error.value.label == reason and names in str(error.value)


def test_v1_missing_feature():
    row = {k: v for k, v in ROWS[0].items() if k != "temp"}
    with pytest.raises(RequestError, match="temp") as error:
        RULES.from_v1({"instances": [row]})
    assert error.value.label == "missing_feature"


def _numbers(name, values, datatype="FP32"):
    return InferInput(name, [len(values)], datatype, values)


V2_ERRORS = [
    ("missing input", {"temp": None}, "missing_feature", "temp"),
    ("wrong datatype", {"hour": _numbers("hour", ["a", "b"], "BYTES")}, "datatype", "hour"),
    ("category as number", {"carrier": _numbers("carrier", [1, 2])}, "datatype", "carrier"),
    ("text in a number", {"hour": _numbers("hour", ["9", "x"])}, "datatype", "hour"),
    ("rows differ", {"temp": _numbers("temp", [1.0, 2.0, 3.0])}, "shape", "temp"),
    ("values short of shape", {"temp": InferInput("temp", [2], "FP32", [1.0])}, "shape", "temp"),
    (
        "nested shape",
        {"temp": InferInput("temp", [2, 2], "FP32", [[1, 2], [3, 4]])},
        "shape",
        "temp",
    ),
    ("inf", {"temp": _numbers("temp", [float("inf"), 1.0])}, "non_finite", "temp"),
    (
        "nan required",
        {"distance": _numbers("distance", [float("nan"), 1.0])},
        "non_finite",
        "distance",
    ),
    ("out of range", {"distance": _numbers("distance", [1.0, 9e9])}, "out_of_range", "distance"),
]


@pytest.mark.parametrize(
    ("case", "change", "reason", "names"), V2_ERRORS, ids=[c[0] for c in V2_ERRORS]
)
def test_v2_client_errors_name_the_field(case, change, reason, names):
    with pytest.raises(RequestError) as error:
        RULES.from_v2(_v2(**change))
    assert error.value.label == reason and names in str(error.value)


def test_v2_unknown_and_repeated_inputs_are_refused():
    request = _v2()
    request.inputs.append(_numbers("colour", [1.0, 2.0]))
    with pytest.raises(RequestError, match="colour"):
        RULES.from_v2(request)
    request = _v2()
    request.inputs.append(_numbers("hour", [1.0, 2.0]))
    with pytest.raises(RequestError, match="hour") as error:
        RULES.from_v2(request)
    assert error.value.label == "duplicate_feature"


GRPC_ROWS = [ROWS[0], {**ROWS[1], "temp": float("nan")}]  # protobuf floats: no null


def _grpc(request: InferRequest = None):
    return (request or _v2(GRPC_ROWS)).to_grpc()


def _same_as_through_kserve(message):
    direct = RULES.from_grpc(message)
    through = RULES.from_v2(InferRequest.from_grpc(message))
    for field in ("categorical", "numeric"):
        np.testing.assert_array_equal(getattr(direct, field), getattr(through, field))
        assert getattr(direct, field).dtype == getattr(through, field).dtype
    assert direct.unseen == through.unseen
    return direct


def test_grpc_messages_decode_as_kserve_would_convert_them():
    reordered = _grpc()
    reordered.inputs.reverse()
    for item in reordered.inputs:
        item.shape[:] = [2, 1]
    as_int = _grpc(_v2(GRPC_ROWS, hour=_numbers("hour", [9, 23], "INT64")))
    raw_inputs = []  # values as raw bytes (`raw_input_contents`): through KServe's conversion
    for item in _v2(GRPC_ROWS).inputs:
        raw = InferInput(item.name, item.shape, item.datatype)
        dtype = object if item.datatype == "BYTES" else np.float32
        raw.set_data_from_numpy(np.array(item.data, dtype=dtype), binary_data=True)
        raw_inputs.append(raw)
    raw = _grpc(InferRequest("m", raw_inputs))
    assert raw.raw_input_contents
    for message in (_grpc(), reordered, as_int, raw):
        decoded = _same_as_through_kserve(message)
        np.testing.assert_array_equal(decoded.categorical, CODES)
        np.testing.assert_array_equal(decoded.numeric, NUMBERS)


GRPC_ERRORS = [c for c in V2_ERRORS if c[0] not in ("text in a number", "nested shape")]


@pytest.mark.parametrize(
    ("case", "change", "reason", "names"), GRPC_ERRORS, ids=[c[0] for c in GRPC_ERRORS]
)
def test_grpc_client_errors_are_the_v2_ones(case, change, reason, names):
    with pytest.raises(RequestError) as error:
        RULES.from_grpc(_grpc(_v2(GRPC_ROWS, **change)))
    assert error.value.label == reason and names in str(error.value)


def test_grpc_repeated_inputs_and_bad_text_are_refused():
    repeated = _grpc()
    repeated.inputs[3].name = "hour"  # now two "hour" inputs and no "distance"
    with pytest.raises(RequestError, match="hour") as error:
        RULES.from_grpc(repeated)
    assert error.value.label == "duplicate_feature"
    latin1 = _grpc()
    latin1.inputs[0].contents.bytes_contents[0] = "Zürich".encode("latin-1")
    with pytest.raises(RequestError, match="carrier.*UTF-8") as error:
        RULES.from_grpc(latin1)
    assert error.value.label == "datatype"


def test_tensor_category_codes_must_be_indices():
    tensor = np.array([[2, 9, 9, 1000, 50]], np.float32)  # origin code 9 > vocabulary
    item = InferInput("input-0", [1, 5], "FP32")
    item.set_data_from_numpy(tensor, binary_data=False)
    with pytest.raises(RequestError, match="origin") as error:
        RULES.from_v2(InferRequest("m", [item]))
    assert error.value.label == "out_of_range"


def test_requested_outputs():
    assert requested_outputs([]) == tuple(OUTPUTS)
    assert requested_outputs(["probability"]) == ("probability",)
    with pytest.raises(RequestError, match="logits") as error:
        requested_outputs(["probability", "logits"])
    assert error.value.label == "unknown_output"


def test_malformed_json_body():
    assert parse_json_body(b'{"instances": []}') == {"instances": []}
    with pytest.raises(RequestError, match="JSON") as error:
        parse_json_body(b"{not json")
    assert error.value.label == "malformed"


def _json(request: InferRequest) -> dict:
    """The request as a REST client sends it, parsed: text for BYTES, no model name."""
    body, _ = request.to_rest()
    body.pop("model_name", None)
    for item in body["inputs"]:
        item["data"] = [v.decode() if isinstance(v, bytes) else v for v in item["data"]]
    return body


def _decode_json(body: dict):
    """As the predictor reads a REST body: the plain way, else KServe's schema and `from_v2`."""
    plain = RULES.from_v2_json(body)
    if plain is not None:
        return plain[0]
    return RULES.from_v2(InferRequest.from_inference_request(validated_v2_request(body), "m"))


def test_v2_json_bodies_decode_as_kserve_would_convert_them():
    reordered = _json(_v2())
    reordered["inputs"].reverse()
    for item in reordered["inputs"]:
        item["shape"] = [2, 1]
    asking = {**_json(_v2()), "outputs": [{"name": "probability"}], "parameters": {"a": 1}}
    for body in (_json(_v2()), reordered, asking):
        decoded, names = RULES.from_v2_json(body)
        through = RULES.from_v2(
            InferRequest.from_inference_request(InferenceRequest.model_validate(body), "m")
        )
        for field in ("categorical", "numeric"):
            np.testing.assert_array_equal(getattr(decoded, field), getattr(through, field))
        np.testing.assert_array_equal(decoded.categorical, CODES)
        np.testing.assert_array_equal(decoded.numeric, NUMBERS)
        assert decoded.unseen == through.unseen
    assert RULES.from_v2_json(asking)[1] == ["probability"]


def _changed(change):
    body = _json(_v2())
    change(body)
    return body


NOT_PLAIN_JSON = [  # read through KServe's schema instead: decoded, or refused by name
    ("a single tensor", lambda b: b.update(inputs=[{**b["inputs"][2], "shape": [2, 1]}])),
    ("inputs not a list", lambda b: b.update(inputs={"hour": [1]})),
    ("an input not an object", lambda b: b["inputs"].__setitem__(0, "carrier")),
    ("a name that is a list", lambda b: b["inputs"][0].update(name=["carrier"])),
    ("no data", lambda b: b["inputs"][0].pop("data")),
    ("nested data", lambda b: b["inputs"][2].update(data=[[9], [23]], shape=[2, 1])),
    ("outputs not a list", lambda b: b.update(outputs="probability")),
    ("an output without a name", lambda b: b.update(outputs=[{}])),
    ("an id that is a number", lambda b: b.update(id=7)),
    ("parameters not an object", lambda b: b.update(parameters=[1])),
]


@pytest.mark.parametrize(
    "change", [c[1] for c in NOT_PLAIN_JSON], ids=[c[0] for c in NOT_PLAIN_JSON]
)
def test_json_bodies_that_are_not_plain_go_the_careful_way(change):
    body = _changed(change)
    assert RULES.from_v2_json(body) is None
    try:
        decoded = _decode_json(body)
    except RequestError as error:
        assert error.label in {"malformed", "shape", "missing_feature", "unknown_feature"}
        assert str(error).split(":")[0]  # names a place
    else:
        np.testing.assert_array_equal(decoded.numeric[:, 0], [9, 23])


@pytest.mark.parametrize(
    ("case", "change", "reason", "names"), V2_ERRORS, ids=[c[0] for c in V2_ERRORS]
)
def test_json_client_errors_are_the_v2_ones(case, change, reason, names):
    with pytest.raises(RequestError) as error:
        _decode_json(_json(_v2(**change)))
    assert error.value.label == reason and names in str(error.value)


@pytest.mark.parametrize(
    ("body", "place"),
    [
        ({}, "inputs: Field required"),
        ({"inputs": 5}, "inputs: Input should be a valid list"),
        ({"inputs": [{"name": "hour", "shape": [1], "datatype": "FP32"}]}, "inputs.0.data"),
        ({"inputs": [], "id": 7}, "id"),
    ],
)
def test_bodies_off_kserve_schema_are_refused_naming_the_place(body, place):
    with pytest.raises(RequestError) as error:
        validated_v2_request(body)
    assert error.value.label == "malformed" and str(error.value).startswith(place)


def test_a_v2_body_must_be_a_json_object():
    assert parse_json_object(b'{"inputs": []}') == {"inputs": []}
    with pytest.raises(RequestError, match="JSON object"):
        parse_json_object(b"[1, 2]")
