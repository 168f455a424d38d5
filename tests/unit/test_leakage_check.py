"""The leakage check (`tests/leakage.py`) catches a feature that uses a fact before it is
known: the congestion feature sluice had before knowledge times (the mean departure delay
of the flights scheduled in hour h, used from h + 2) fails it, as the e2e test would."""

import pandas as pd

from components.flights import features as F
from components.flights.schema import add_derived_columns
from tests.leakage import known_at, point_in_time, same

T = pd.Timestamp("2013-01-01T12:30:00Z")


def _tables() -> dict:
    rows = [
        ("2013-01-01T10:00:00Z", 0, "JFK", 5.0, 1.0),
        ("2013-01-01T10:00:00Z", 50, "JFK", 180.0, 1.0),  # leaves 13:50, after T
        ("2013-01-01T12:00:00Z", 30, "JFK", 0.0, 1.0),  # the flight asked about, at T
    ]
    flights = pd.DataFrame(rows, columns=["time_hour", "minute", "origin", "dep_delay", "dep_time"])
    flights = add_derived_columns(flights.assign(dest="ORD", carrier="AA", tailnum="N1"))
    return {
        "flights": flights,
        "weather": pd.DataFrame({"time_hour": pd.to_datetime([], utc=True)}),
    }


def _congestion_before_knowledge_times(flights: pd.DataFrame) -> pd.DataFrame:
    """sluice's feature before knowledge times, as it was: stats of the flights scheduled in
    hour h, stamped h + 2."""
    hour = pd.to_datetime(flights["time_hour"], utc=True)
    stats = flights.assign(hour=hour).groupby(["origin", "hour"])["dep_delay"].mean()
    out = stats.rename("origin_mean_dep_delay").reset_index()
    return out.assign(event_timestamp=out["hour"] + pd.Timedelta(hours=2))


def _value(source: pd.DataFrame, name: str):
    row = point_in_time(source, {"origin": "JFK"}, T, pd.Timedelta(0), "event_timestamp")
    return None if row is None else row[name]


def test_the_old_congestion_feature_fails_the_check():
    tables = _tables()
    full = _value(_congestion_before_knowledge_times(tables["flights"]), "origin_mean_dep_delay")
    hidden = _value(
        _congestion_before_knowledge_times(known_at(tables, T)["flights"]), "origin_mean_dep_delay"
    )
    assert full == 92.5 and hidden == 5.0  # the 180 minutes were not known at 12:30
    assert not same(full, hidden)


def test_the_knowledge_time_congestion_passes_it():
    tables = _tables()
    full = F.state_source(tables["flights"], F.ORIGIN_STATE)
    hidden = F.state_source(known_at(tables, T)["flights"], F.ORIGIN_STATE)
    for name in F.state_columns(F.ORIGIN_STATE):
        assert same(_value(full, name), _value(hidden, name)), name
