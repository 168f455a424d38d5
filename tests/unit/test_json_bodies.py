"""Request bodies as JSON: parse errors and KServe's v2 schema, each refusal naming its
place."""

import pytest

from serving.json_bodies import parse_json_body, parse_json_object, validated_v2_request
from serving.request_errors import RequestError


def test_malformed_json_body():
    assert parse_json_body(b'{"instances": []}') == {"instances": []}
    with pytest.raises(RequestError, match="JSON") as error:
        parse_json_body(b"{not json")
    assert error.value.label == "malformed"


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
