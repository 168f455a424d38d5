"""v1 requests, without a server: every client error names its field and carries a fixed
reason label."""

import pytest

from serving.decode_v1 import decode_v1
from serving.request_errors import RequestError
from tests.unit.request_cases import ROWS, RULES

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
        decode_v1(RULES, body)
    assert error.value.label == reason and names in str(error.value)


def test_v1_missing_feature():
    row = {k: v for k, v in ROWS[0].items() if k != "temp"}
    with pytest.raises(RequestError, match="temp") as error:
        decode_v1(RULES, {"instances": [row]})
    assert error.value.label == "missing_feature"
