import numpy as np
import pandas as pd
import pytest

from components.flights import features as F
from components.flights.request import CATEGORICAL_FEATURES
from components.flights.schema import add_derived_columns

COLUMNS = ["time_hour", "minute", "origin", "dest", "carrier", "tailnum", "dep_delay", "dep_time"]


def _flights(rows):
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return add_derived_columns(frame)


def _at(source: pd.DataFrame, when: str, **keys) -> pd.Series:
    """The point-in-time read: the latest row at or before `when` (the views have no TTL)."""
    rows = source[source[F.ENTITY_TIMESTAMP] <= pd.Timestamp(when)]
    for key, value in keys.items():
        rows = rows[rows[key] == value]
    return rows.sort_values(F.ENTITY_TIMESTAMP).iloc[-1]


def test_origin_state_counts_facts_by_the_time_they_became_known():
    flights = _flights(
        [
            ("2013-01-01T10:00:00Z", 0, "JFK", "ORD", "AA", "N1", 5.0, 1.0),  # left 10:05
            ("2013-01-01T10:00:00Z", 10, "JFK", "ORD", "AA", "N2", 180.0, 1.0),  # left 13:10
            ("2013-01-01T10:00:00Z", 20, "JFK", "ORD", "AA", "N3", None, None),  # cancelled
            ("2013-01-01T11:00:00Z", 0, "JFK", "BOS", "AA", "N4", 0.0, 1.0),  # left 11:00
            ("2013-01-01T14:00:00Z", 0, "JFK", "BOS", "AA", "N5", 0.0, 1.0),  # asked at 13:30
        ]
    )
    source = F.state_source(flights, F.ORIGIN_STATE)
    at_1045 = _at(source, "2013-01-01T10:45:00Z", origin="JFK")
    # departures in [09:45, 10:45): N1 only; the 180-minute delay is not known yet
    assert at_1045["origin_departures"] == 1 and at_1045["origin_mean_dep_delay"] == 5.0
    # outcomes known: N1 at 10:05 (on time), N2 at 10:25 and N3 at 10:35 (not gone: delayed)
    assert at_1045["origin_delayed_share"] == 2 / 3
    assert at_1045["origin_scheduled_ahead"] == 1  # N4 at 11:00, in [10:45, 11:45)
    at_1330 = _at(source, "2013-01-01T13:30:00Z", origin="JFK")
    assert at_1330["origin_departures"] == 1 and at_1330["origin_mean_dep_delay"] == 180.0


def test_state_has_a_row_every_step_from_a_day_before_the_data_to_its_last_flight():
    flights = _flights(
        [
            ("2013-01-02T10:00:00Z", 0, "JFK", "ORD", "AA", "N1", 0.0, 1.0),
            ("2013-01-02T16:00:00Z", 0, "JFK", "BOS", "AA", "N2", 0.0, 1.0),
        ]
    )
    source = F.state_source(flights, F.DEST_STATE)
    ord_ = source[source["dest"] == "ORD"]
    stamps = ord_[F.ENTITY_TIMESTAMP]
    assert (stamps.diff().dropna() == F.DEST_STATE.step).all()
    assert stamps.min() == pd.Timestamp("2013-01-01T09:00:00Z")  # any horizon reads a row
    assert stamps.max() == pd.Timestamp("2013-01-02T17:00:00Z")  # the last flight's, + a step
    # the departure at 10:00 counts from the next grid point until its 3 hours have passed
    counts = ord_.set_index(F.ENTITY_TIMESTAMP)["dest_departures"]
    assert counts[pd.Timestamp("2013-01-02T10:00:00Z")] == 0
    assert counts[pd.Timestamp("2013-01-02T11:00:00Z")] == 1
    assert counts[pd.Timestamp("2013-01-02T13:00:00Z")] == 1
    assert counts[pd.Timestamp("2013-01-02T14:00:00Z")] == 0


def test_features_are_read_as_of_the_quarter_hour_before_the_horizon():
    scheduled = pd.to_datetime(["2013-01-01T10:14:00", "2013-01-01T10:15:00"]).tz_localize(
        "America/New_York"
    )
    assert list(F.as_of(scheduled, F.parse_horizon("0"))) == list(
        pd.to_datetime(["2013-01-01T15:00:00Z", "2013-01-01T15:15:00Z"])
    )
    assert F.as_of(scheduled, F.parse_horizon("2h"))[0] == pd.Timestamp("2013-01-01T13:00:00Z")


def test_horizon_reads_durations_and_refuses_the_rest():
    assert F.parse_horizon("90min").total_seconds() == 5400
    assert F.parse_horizon("PT2H").total_seconds() == 7200
    assert F.parse_horizon(30).total_seconds() == 1800
    for bad in ("soon", "-1h", "2 days"):
        with pytest.raises(ValueError, match="horizon"):
            F.parse_horizon(bad)


def test_a_training_frame_carries_its_horizon(tmp_path):
    frame = pd.DataFrame({"a": [1.0]})
    F.write_frame(frame, tmp_path / "frame.parquet", F.parse_horizon("6h"))
    assert F.frame_horizon(tmp_path / "frame.parquet").total_seconds() == 6 * 3600
    frame.to_parquet(tmp_path / "plain.parquet")
    assert F.frame_horizon(tmp_path / "plain.parquet").total_seconds() == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "frame.parquet"), frame)


def test_aircraft_latest_departure_never_includes_the_flight_itself():
    flights = _flights(
        [
            ("2013-01-01T10:00:00Z", 0, "JFK", "ORD", "AA", "N1", -5.0, 1.0),  # left 09:55
            ("2013-01-01T15:00:00Z", 0, "JFK", "ORD", "AA", "N1", 30.0, 1.0),  # left 15:30
            ("2013-01-01T16:00:00Z", 0, "JFK", "ORD", "AA", "N1", None, None),  # cancelled
        ]
    )
    source = F.aircraft_source(flights)
    assert len(source) == 2  # a cancelled flight never left
    first = source.iloc[0]
    assert first[F.ENTITY_TIMESTAMP] == pd.Timestamp("2013-01-01T10:01:00Z")  # after its slot
    assert first[F.AIRCRAFT_DELAY] == -5.0
    assert source.iloc[1][F.ENTITY_TIMESTAMP] == pd.Timestamp("2013-01-01T15:31:00Z")


def test_minutes_since_departure_within_the_window_only():
    left = pd.Timestamp("2013-01-01T10:00:00Z").timestamp()
    as_of = F.epoch_seconds(
        pd.to_datetime(["2013-01-01T11:30:00Z", "2013-01-02T00:00:01Z", "2013-01-01T09:00:00Z"])
    )
    columns = {F.AIRCRAFT_DELAY: [20.0, 20.0, 20.0], F.AIRCRAFT_DEPARTED_AT: [left] * 3}
    out = F.with_elapsed(columns, as_of)
    assert F.AIRCRAFT_DEPARTED_AT not in out
    np.testing.assert_array_equal(out[F.AIRCRAFT_MINUTES_SINCE], [90.0, np.nan, np.nan])
    np.testing.assert_array_equal(out[F.AIRCRAFT_DELAY], [20.0, np.nan, np.nan])


def test_carrier_rate_window_ends_two_days_before_use():
    rows = [
        (f"2013-01-0{d}T15:00:00Z", 0, "JFK", "ORD", "AA", "N1", 60.0 if d == 1 else 0.0, 1.0)
        for d in range(1, 6)
    ]
    source = F.daily_rate_source(_flights(rows), F.CARRIER_RATE)
    by_time = source.set_index(F.ENTITY_TIMESTAMP)["carrier_delay_rate_7d"]
    # Window ending Jan 1 (one delayed flight of one) is usable from Jan 3, local midnight.
    assert by_time[pd.Timestamp("2013-01-03T05:00:00Z")] == 1.0
    assert by_time[pd.Timestamp("2013-01-04T05:00:00Z")] == 0.5
    assert source[F.ENTITY_TIMESTAMP].min() == pd.Timestamp("2013-01-03T05:00:00Z")


def test_route_rate_starts_at_the_routes_first_day():
    rows = [
        ("2013-01-01T15:00:00Z", 0, "JFK", "ORD", "AA", "N1", 0.0, 1.0),
        ("2013-01-03T15:00:00Z", 0, "JFK", "BOS", "AA", "N1", 20.0, 1.0),
    ]
    source = F.daily_rate_source(_flights(rows), F.ROUTE_RATE)
    bos = source[source["dest"] == "BOS"]
    assert bos[F.ENTITY_TIMESTAMP].min() == pd.Timestamp("2013-01-04T06:00:00Z")
    assert bos["route_delay_rate_28d"].iloc[0] == 1.0


def test_model_features_have_no_duplicates():
    names = F.model_features(["temp", F.AIRCRAFT_DEPARTED_AT])
    assert len(names) == len(set(names))
    assert names[:3] == list(CATEGORICAL_FEATURES)
    assert names[-1] == F.AIRCRAFT_MINUTES_SINCE
