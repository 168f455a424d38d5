"""v2 requests (InferRequest, gRPC messages, parsed JSON), without a server: good requests
decode to the same arrays on every path, and every client error names its field and
carries a fixed reason label."""

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest
from kserve.protocol.rest.v2_datamodels import InferenceRequest

from serving.decode_v1 import decode_v1
from serving.json_bodies import validated_v2_request
from serving.request_errors import RequestError
from tests.unit.request_cases import CODES, NUMBERS, ROWS, RULES, TEXT, V2, v2_request


def test_v1_v2_and_the_single_tensor_decode_alike():
    tensor = np.hstack([CODES, NUMBERS]).astype(np.float32)
    item = InferInput("input-0", list(tensor.shape), "FP32")
    item.set_data_from_numpy(tensor, binary_data=False)
    unseen_as_empty = np.where(CODES == 0, "", TEXT)  # the tensor's code 0 for "ZZ"
    for decoded, text in (
        (decode_v1(RULES, {"instances": ROWS}), TEXT),
        (V2.from_request(v2_request()), TEXT),
        (V2.from_request(InferRequest("m", [item])), unseen_as_empty),
    ):
        np.testing.assert_array_equal(decoded.categorical, text)
        assert {type(v) for v in decoded.categorical.flat} == {str}  # what the graph takes
        np.testing.assert_array_equal(decoded.numeric, NUMBERS)
        assert decoded.numeric.flags.c_contiguous


def test_inputs_may_come_in_any_order_and_as_rows_by_one():
    inputs = list(reversed(v2_request().inputs))
    for item in inputs:
        item.shape = [len(ROWS), 1]
    decoded = V2.from_request(InferRequest("m", inputs))
    np.testing.assert_array_equal(decoded.numeric, NUMBERS)


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
        V2.from_request(v2_request(**change))
    assert error.value.label == reason and names in str(error.value)


def test_v2_unknown_and_repeated_inputs_are_refused():
    request = v2_request()
    request.inputs.append(_numbers("colour", [1.0, 2.0]))
    with pytest.raises(RequestError, match="colour"):
        V2.from_request(request)
    request = v2_request()
    request.inputs.append(_numbers("hour", [1.0, 2.0]))
    with pytest.raises(RequestError, match="hour") as error:
        V2.from_request(request)
    assert error.value.label == "duplicate_feature"


GRPC_ROWS = [ROWS[0], {**ROWS[1], "temp": float("nan")}]  # protobuf floats: no null


def _grpc(request: InferRequest = None):
    return (request or v2_request(GRPC_ROWS)).to_grpc()


def _same_as_through_kserve(message):
    direct = V2.from_grpc(message)
    through = V2.from_request(InferRequest.from_grpc(message))
    for field in ("categorical", "numeric"):
        np.testing.assert_array_equal(getattr(direct, field), getattr(through, field))
        assert getattr(direct, field).dtype == getattr(through, field).dtype
    return direct


def test_grpc_messages_decode_as_kserve_would_convert_them():
    reordered = _grpc()
    reordered.inputs.reverse()
    for item in reordered.inputs:
        item.shape[:] = [2, 1]
    as_int = _grpc(v2_request(GRPC_ROWS, hour=_numbers("hour", [9, 23], "INT64")))
    raw_inputs = []  # values as raw bytes (`raw_input_contents`): through KServe's conversion
    for item in v2_request(GRPC_ROWS).inputs:
        raw = InferInput(item.name, item.shape, item.datatype)
        dtype = object if item.datatype == "BYTES" else np.float32
        raw.set_data_from_numpy(np.array(item.data, dtype=dtype), binary_data=True)
        raw_inputs.append(raw)
    raw = _grpc(InferRequest("m", raw_inputs))
    assert raw.raw_input_contents
    for message in (_grpc(), reordered, as_int, raw):
        decoded = _same_as_through_kserve(message)
        np.testing.assert_array_equal(decoded.categorical, TEXT)
        np.testing.assert_array_equal(decoded.numeric, NUMBERS)


GRPC_ERRORS = [c for c in V2_ERRORS if c[0] not in ("text in a number", "nested shape")]


@pytest.mark.parametrize(
    ("case", "change", "reason", "names"), GRPC_ERRORS, ids=[c[0] for c in GRPC_ERRORS]
)
def test_grpc_client_errors_are_the_v2_ones(case, change, reason, names):
    with pytest.raises(RequestError) as error:
        V2.from_grpc(_grpc(v2_request(GRPC_ROWS, **change)))
    assert error.value.label == reason and names in str(error.value)


def test_grpc_repeated_inputs_and_bad_text_are_refused():
    repeated = _grpc()
    repeated.inputs[3].name = "hour"  # now two "hour" inputs and no "distance"
    with pytest.raises(RequestError, match="hour") as error:
        V2.from_grpc(repeated)
    assert error.value.label == "duplicate_feature"
    latin1 = _grpc()
    latin1.inputs[0].contents.bytes_contents[0] = "Zürich".encode("latin-1")
    with pytest.raises(RequestError, match="carrier.*UTF-8") as error:
        V2.from_grpc(latin1)
    assert error.value.label == "datatype"


def test_tensor_category_codes_must_be_indices():
    tensor = np.array([[2, 9, 9, 1000, 50]], np.float32)  # origin code 9 > vocabulary
    item = InferInput("input-0", [1, 5], "FP32")
    item.set_data_from_numpy(tensor, binary_data=False)
    with pytest.raises(RequestError, match="origin") as error:
        V2.from_request(InferRequest("m", [item]))
    assert error.value.label == "out_of_range"


def _json(request: InferRequest) -> dict:
    """The request as a REST client sends it, parsed: text for BYTES, no model name."""
    body, _ = request.to_rest()
    body.pop("model_name", None)
    for item in body["inputs"]:
        item["data"] = [v.decode() if isinstance(v, bytes) else v for v in item["data"]]
    return body


def _decode_json(body: dict):
    """As the predictor reads a REST body: the plain way, else KServe's schema."""
    plain = V2.from_json(body)
    if plain is not None:
        return plain[0]
    return V2.from_request(InferRequest.from_inference_request(validated_v2_request(body), "m"))


def test_v2_json_bodies_decode_as_kserve_would_convert_them():
    reordered = _json(v2_request())
    reordered["inputs"].reverse()
    for item in reordered["inputs"]:
        item["shape"] = [2, 1]
    asking = {**_json(v2_request()), "outputs": [{"name": "probability"}], "parameters": {"a": 1}}
    for body in (_json(v2_request()), reordered, asking):
        decoded, names = V2.from_json(body)
        through = V2.from_request(
            InferRequest.from_inference_request(InferenceRequest.model_validate(body), "m")
        )
        for field in ("categorical", "numeric"):
            np.testing.assert_array_equal(getattr(decoded, field), getattr(through, field))
        np.testing.assert_array_equal(decoded.categorical, TEXT)
        np.testing.assert_array_equal(decoded.numeric, NUMBERS)
    assert V2.from_json(asking)[1] == ["probability"]


def _changed(change):
    body = _json(v2_request())
    change(body)
    return body


DECODED = None  # the careful way reads it: hour is [9, 23]
NOT_PLAIN_JSON = [  # read through KServe's schema instead: decoded, or refused by name
    (
        "a single tensor",
        lambda b: b.update(inputs=[{**b["inputs"][2], "shape": [2, 1]}]),
        ("shape", "input 'hour': shape [2, 1] must be [rows, 5]"),
    ),
    (
        "inputs not a list",
        lambda b: b.update(inputs={"hour": [1]}),
        ("malformed", "inputs: Input should be a valid list"),
    ),
    (
        "an input not an object",
        lambda b: b["inputs"].__setitem__(0, "carrier"),
        ("malformed", "inputs.0: Input should be a valid dictionary"),
    ),
    (
        "a name that is a list",
        lambda b: b["inputs"][0].update(name=["carrier"]),
        ("malformed", "inputs.0.name: Input should be a valid string"),
    ),
    ("no data", lambda b: b["inputs"][0].pop("data"), ("malformed", "inputs.0.data: Field")),
    (
        "nested data",
        lambda b: b["inputs"][2].update(data=[[9], [23]], shape=[2, 1]),
        DECODED,
    ),
    (
        "outputs not a list",
        lambda b: b.update(outputs="probability"),
        ("malformed", "outputs: Input should be a valid list"),
    ),
    (
        "an output without a name",
        lambda b: b.update(outputs=[{}]),
        ("malformed", "outputs.0.name: Field required"),
    ),
    ("an id that is a number", lambda b: b.update(id=7), ("malformed", "id: Input should be")),
    (
        "parameters not an object",
        lambda b: b.update(parameters=[1]),
        ("malformed", "parameters: Input should be a valid dictionary"),
    ),
    (
        "binary outputs asked for",
        lambda b: b.update(parameters={"binary_data_output": True}),
        DECODED,
    ),
]


@pytest.mark.parametrize(
    ("change", "outcome"),
    [c[1:] for c in NOT_PLAIN_JSON],
    ids=[c[0] for c in NOT_PLAIN_JSON],
)
def test_json_bodies_that_are_not_plain_go_the_careful_way(change, outcome):
    body = _changed(change)
    assert V2.from_json(body) is None
    if outcome is DECODED:
        np.testing.assert_array_equal(_decode_json(body).numeric[:, 0], [9, 23])
        return
    reason, message = outcome
    with pytest.raises(RequestError) as error:
        _decode_json(body)
    assert error.value.label == reason
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize(
    ("case", "change", "reason", "names"), V2_ERRORS, ids=[c[0] for c in V2_ERRORS]
)
def test_json_client_errors_are_the_v2_ones(case, change, reason, names):
    with pytest.raises(RequestError) as error:
        _decode_json(_json(v2_request(**change)))
    assert error.value.label == reason and names in str(error.value)
