"""Request-time features: derived from what a caller sends, the same way for training."""

from datetime import datetime

import pandas as pd
import pytest

from components.flights.features import entity_frame
from components.flights.request import (
    REQUEST_FEATURES,
    request_features,
    scheduled_departure,
    scheduled_departures,
)
from components.flights.schema import add_derived_columns


def test_times_without_an_offset_are_new_york_times_and_others_are_converted():
    scheduled = scheduled_departures(["2013-01-31T08:15:00", "2013-07-04T23:40:00Z"])
    assert [str(t) for t in scheduled] == [
        "2013-01-31 08:15:00-05:00",
        "2013-07-04 19:40:00-04:00",  # summer time: UTC-4
    ]


@pytest.mark.parametrize(
    "value",
    [
        "tomorrow",
        "",
        None,
        "2013-02-30T10:00",
        "2013-11-03T01:30:00",  # clocks went back: 01:30 came twice in New York
        "2013-03-10T02:30:00",  # clocks went forward: no 02:30 in New York
        "0001-01-01T00:00:00+01:00",  # in New York, before the year 1
        "9999-12-31T23:59:00-05:00",  # in range, but astimezone passes through UTC: 10000
    ],
)
def test_a_time_that_does_not_parse_names_its_row(value):
    with pytest.raises(ValueError, match=r"row 1: sched_dep_time"):
        scheduled_departures(["2013-01-31T08:15:00", value])


SENT = {  # what a caller sends: (hour, day of the week, month) in New York, by hand
    "2013-01-31T08:15:00": (8, 3, 1),  # a Thursday
    "2013-12-01T00:05:00-05:00": (0, 6, 12),  # a Sunday
    "2013-07-04T23:40:00Z": (19, 3, 7),  # 23:40 UTC is 19:40 in New York in summer
    "2013-03-10T03:30:00": (3, 6, 3),  # the first hour of summer time (02:00-03:00 skipped)
    "2013-11-03T01:30:00-04:00": (1, 6, 11),  # 01:30 came twice: the first, summer time
    "2013-11-03T01:30:00-05:00": (1, 6, 11),  # and the second, an hour later
    "2013-11-03T04:59:00Z": (0, 6, 11),  # 00:59 summer time, the day the clocks go back
}


@pytest.mark.parametrize(
    "scheduled",
    [
        scheduled_departures(SENT),  # training's form
        [scheduled_departure(v, row) for row, v in enumerate(SENT)],  # the transformer's
    ],
    ids=["series", "datetimes"],
)
def test_request_features_by_hand(scheduled):
    flights = len(SENT)
    features = pd.DataFrame(
        request_features(
            carrier=["UA"] * flights,
            origin=["EWR"] * flights,
            dest=["IAH"] * flights,
            scheduled=scheduled,
            distance=[1400 + i for i in range(flights)],
        )
    )
    assert list(features.columns) == list(REQUEST_FEATURES)
    calendar = features[["hour", "day_of_week", "month"]].itertuples(index=False, name=None)
    assert list(calendar) == list(SENT.values())
    assert features["distance"].tolist() == [1400.0 + i for i in range(flights)]
    assert (features[["carrier", "origin", "dest"]].to_numpy() == ["UA", "EWR", "IAH"]).all()
    assert features["hour"].dtype == "int64" and features["distance"].dtype == "float64"


def test_a_time_without_a_zone_is_refused_not_read_as_the_hosts():
    with pytest.raises(ValueError, match="scheduled: a time without a zone"):
        request_features(["UA"], ["EWR"], ["IAH"], [datetime(2013, 1, 31, 8, 15)], [1400])


def test_the_training_frame_takes_them_from_the_same_derivation():
    flights = add_derived_columns(
        pd.DataFrame(
            {
                "year": [2013],
                "month": [1],
                "day": [31],
                "flight": [1545],
                "sched_dep_time": [815],
                "hour": [8],
                "minute": [15],
                "carrier": ["UA"],
                "origin": ["EWR"],
                "dest": ["IAH"],
                "tailnum": ["N14228"],
                "distance": [1400.0],
                "dep_delay": [2.0],
                "dep_time": [817.0],
                "time_hour": ["2013-01-31T13:00:00Z"],  # 08:00 in New York
            }
        )
    )
    row = entity_frame(flights).iloc[0]
    assert (row["hour"], row["day_of_week"], row["month"], row["distance"]) == (8, 3, 1, 1400.0)
    # features are read as of the scheduled departure's quarter hour: 08:15 in New York
    assert row["event_timestamp"] == pd.Timestamp("2013-01-31T13:15:00Z")


def test_a_request_time_is_read_without_pandas_as_the_same_instant():
    """The transformer reads one per request: the standard library's datetime, which pandas
    takes as the same instant."""
    from datetime import datetime

    from components.flights.request import scheduled_departure

    stamp = scheduled_departure("2013-07-04T23:40:00Z", 0)
    assert type(stamp) is datetime
    assert stamp.isoformat() == "2013-07-04T19:40:00-04:00"
    assert pd.Timestamp(stamp) == pd.Timestamp("2013-07-04 19:40", tz="America/New_York")
