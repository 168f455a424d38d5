import pandas as pd

from components.flights import features as F
from components.flights.request import CATEGORICAL_FEATURES
from components.flights.schema import add_derived_columns


def _flights(rows):
    frame = pd.DataFrame(rows, columns=["time_hour", "origin", "carrier", "dep_delay", "dep_time"])
    return add_derived_columns(frame)


def test_congestion_covers_every_hour_and_is_used_two_hours_later():
    flights = _flights(
        [
            ("2013-01-01T10:00:00Z", "JFK", "AA", 30.0, 1.0),
            ("2013-01-01T10:00:00Z", "JFK", "AA", 0.0, 1.0),
            ("2013-01-01T10:00:00Z", "JFK", "AA", None, None),  # cancelled
            ("2013-01-01T13:00:00Z", "JFK", "AA", 5.0, 1.0),
        ]
    )
    source = F.congestion_source(flights).set_index(F.ENTITY_TIMESTAMP)
    first = source.loc[pd.Timestamp("2013-01-01T12:00:00Z")]
    assert first["origin_mean_dep_delay"] == 15.0
    assert first["origin_delayed_share"] == 2 / 3  # cancelled counts as delayed
    assert first["origin_flights"] == 3
    empty = source.loc[pd.Timestamp("2013-01-01T13:00:00Z")]
    assert empty["origin_flights"] == 0 and pd.isna(empty["origin_delayed_share"])
    assert len(source) == 4  # hours 10, 11, 12, 13


def test_carrier_rate_window_ends_two_days_before_use():
    rows = [
        (f"2013-01-0{d}T15:00:00Z", "JFK", "AA", 60.0 if d == 1 else 0.0, 1.0) for d in range(1, 6)
    ]
    source = F.carrier_rate_source(_flights(rows))
    by_time = source.set_index(F.ENTITY_TIMESTAMP)["carrier_delay_rate_7d"]
    # Window ending Jan 1 (one delayed flight of one) is usable from Jan 3, local midnight.
    assert by_time[pd.Timestamp("2013-01-03T05:00:00Z")] == 1.0
    assert by_time[pd.Timestamp("2013-01-04T05:00:00Z")] == 0.5
    assert source[F.ENTITY_TIMESTAMP].min() == pd.Timestamp("2013-01-03T05:00:00Z")


def test_model_features_have_no_duplicates():
    names = F.model_features(["temp"])
    assert len(names) == len(set(names))
    assert names[:3] == list(CATEGORICAL_FEATURES)
