"""`RequestRules.check_numeric` on matrices that hold a nullable feature's NaN, which skip its
two-comparison path: every check must still hold, through the reductions or the full
passes."""

import numpy as np
import pytest

from serving.request_errors import RequestError
from tests.unit.request_cases import RULES

NAN = np.nan
INF = np.inf


def _matrix(*rows) -> np.ndarray:
    """Rows of (hour, distance, temp): hour in [0, 23] and distance in [1, 5000], both
    required; temp in [-40, 120], nullable."""
    return np.array(rows, np.float32).reshape(-1, 3)


@pytest.mark.parametrize(
    "numeric",
    [
        _matrix([9, 1000, NAN], [23, 17, 55.5]),
        _matrix([0, 1, NAN], [23, 5000, NAN]),  # the nullable feature all NaN, bounds met
        _matrix(),
    ],
    ids=["nan nullable", "nullable all nan", "empty"],
)
def test_passes(numeric):
    assert RULES._passes(numeric)  # without the ten passes that name a failure
    RULES.check_numeric(numeric)


@pytest.mark.parametrize(
    ("numeric", "reason", "where"),
    [
        (_matrix([9, 1000, NAN], [9, 1000, INF]), "non_finite", "'temp' row 1"),
        (_matrix([9, 1000, NAN], [9, -INF, 50]), "non_finite", "'distance' row 1"),
        (_matrix([9, 1000, NAN], [24, 1000, 50]), "out_of_range", "'hour' row 1"),
        (_matrix([9, 1000, NAN], [9, 0.5, 50]), "out_of_range", "'distance' row 1"),
        (_matrix([9, 1000, NAN], [9, 1000, 121]), "out_of_range", "'temp' row 1"),
        (_matrix([9, 1000, NAN], [NAN, 1000, 50]), "non_finite", "'hour' row 1"),
        (_matrix([9, NAN, NAN], [9, NAN, NAN]), "non_finite", "'distance' row 0"),
    ],
    ids=["inf", "-inf", "above", "below", "above nullable", "nan required", "all nan required"],
)
def test_refuses_beside_a_nullable_nan(numeric, reason, where):
    assert not RULES._passes(numeric)
    with pytest.raises(RequestError) as error:
        RULES.check_numeric(numeric, first_row=0)
    assert error.value.label == reason
    assert where in str(error.value)


def test_names_the_row_in_the_whole_input():
    with pytest.raises(RequestError, match="'hour' row 1001"):
        RULES.check_numeric(_matrix([9, 1000, NAN], [-1, 1000, 50]), first_row=1000)


def test_refusals_name_every_rule_each_refused_row_breaks_in_row_order():
    numeric = _matrix(
        [9, 1000, NAN],  # passes: temp is nullable
        [24, NAN, INF],  # three rules broken
        [9, 1000, 50],
        [9, 0.5, NAN],
    )

    refused = RULES.refusals(numeric)

    assert refused == {
        1: "feature 'temp': inf is not allowed; feature 'distance': a value is required "
        "(got NaN/null); feature 'hour': 24 is outside [0, 23]",
        3: "feature 'distance': 0.5 is outside [1, 5000]",
    }
    with pytest.raises(RequestError, match="'temp' row 1"):  # the same rows, refused whole
        RULES.check_numeric(numeric)
    # in row order, though the infinity is found first
    assert list(RULES.refusals(_matrix([24, 1000, 50], [9, 1000, INF]))) == [0, 1]


@pytest.mark.parametrize("numeric", [_matrix([9, 1000, NAN], [23, 17, 55.5]), _matrix()])
def test_no_refusals_where_every_row_passes(numeric):
    assert RULES.refusals(numeric) == {}
