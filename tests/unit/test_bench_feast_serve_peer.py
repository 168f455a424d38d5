"""The feast-serve peer builds the predictor's input from the feature server's JSON answer
as the KServe sample does: by each reference's full name, in the model's order."""

import math
from datetime import timedelta

import pytest

from components.flights.request import EXAMPLE_REQUEST
from tests.benchmarks.feast_serve_peer import (
    FeastServerTransformer,
    build_parser,
    feature_key,
)

REFS = [
    "plane_attributes:plane_year",
    "aircraft_latest:aircraft_prev_dep_delay",
    "aircraft_latest:aircraft_departed_at",
]
# 2013-12-31T08:15 New York is 13:15 UTC: epoch 1388495700
DEPARTED = 1388495700 - 90 * 60


def _answer(values: dict[str, list]) -> dict:
    """`/get-online-features` with `full_feature_names`: the join keys' columns first."""
    names = ["tailnum", *values]
    columns = [["N14228", "N0000"], *values.values()]
    return {
        "metadata": {"feature_names": names},
        "results": [{"values": v, "statuses": ["PRESENT"] * len(v)} for v in columns],
    }


@pytest.fixture
def peer():
    return FeastServerTransformer("sluice-flights", "127.0.0.1:1", REFS, timedelta(0))


def test_the_request_names_every_entity_key_per_flight(peer):
    inputs = {"instances": [EXAMPLE_REQUEST, {**EXAMPLE_REQUEST, "tailnum": "N0000"}]}
    rows = peer.build_entity_rows(inputs)
    assert rows["tailnum"] == ["N14228", "N0000"]
    assert rows["origin"] == ["EWR", "EWR"]
    assert set(rows) == {"origin", "tailnum", "carrier", "dest"}


def test_the_model_input_is_read_by_full_name_in_model_order_with_null_for_missing(peer):
    inputs = {"instances": [EXAMPLE_REQUEST, {**EXAMPLE_REQUEST, "tailnum": "N0000"}]}
    answer = _answer(
        {
            feature_key(REFS[2]): [DEPARTED, None],  # an unknown plane: null
            feature_key(REFS[0]): [1999.0, None],  # the server's order is not the model's
            feature_key(REFS[1]): [12.0, None],
        }
    )
    known, unknown = peer.build_predict_request(inputs, answer)["instances"]
    assert list(known) == [
        "carrier",
        "origin",
        "dest",
        "hour",
        "day_of_week",
        "month",
        "distance",
        "plane_year",
        "aircraft_prev_dep_delay",
        "aircraft_minutes_since_departure",
    ]
    assert (known["hour"], known["day_of_week"], known["month"]) == (8, 1, 12)
    assert known["plane_year"] == 1999.0
    assert known["aircraft_prev_dep_delay"] == 12.0
    assert known["aircraft_minutes_since_departure"] == pytest.approx(90.0)
    assert unknown["plane_year"] is None
    assert unknown["aircraft_minutes_since_departure"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in unknown.values())


def test_the_peer_takes_the_samples_flags():
    args = build_parser().parse_args(
        ["--feast_serving_url", "127.0.0.1:6566", "--feature_refs", *REFS]
    )
    assert args.feature_refs == REFS
    assert args.horizon_minutes == 0.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--feature_refs", *REFS])  # no feature server
