"""The model server's own arguments: bad values are refused by name at start, before any
model or store is opened."""

import pytest

from serving.server import build_parser


@pytest.mark.parametrize(
    ("flag", "value", "rule"),
    [
        ("--online_timeout_ms", "0", "must be above 0"),
        ("--online_timeout_ms", "-5", "must be above 0"),
        ("--online_timeout_ms", "fast", "not a number"),
        ("--horizon", "soon", "horizon"),
        ("--horizon", "-1h", "zero or more"),
        ("--predictor_calls_in_flight", "0", "must be at least 1"),
        ("--predictor_calls_in_flight", "two", "not a whole number"),
    ],
)
def test_a_bad_value_is_refused_by_name(flag, value, rule, capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([f"{flag}={value}"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert flag in error and rule in error


def test_good_values_parse():
    args = build_parser().parse_args(["--online_timeout_ms", "250", "--horizon", "2h"])
    assert args.online_timeout_ms == 250.0 and args.horizon.total_seconds() == 7200
    assert build_parser().parse_args([]).horizon is None  # the in-process model's
