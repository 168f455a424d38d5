"""What a request may ask to get back."""

import pytest

from serving.answers import OUTPUTS, requested_outputs
from serving.request_errors import RequestError


def test_requested_outputs():
    assert requested_outputs([]) == tuple(OUTPUTS)
    assert requested_outputs(["probability"]) == ("probability",)
    with pytest.raises(RequestError, match="logits") as error:
        requested_outputs(["probability", "logits"])
    assert error.value.label == "unknown_output"
