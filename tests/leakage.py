"""What was known at a moment, for the leakage tests: the facts of the source tables, each
hidden until the time it became known. These knowledge times are the tests' own reading of
the definitions (a departure delay is known when the flight leaves; whether a flight is
delayed at the earlier of that and 15 minutes after its schedule; an hour's weather at the
end of the hour), written here rather than imported, so the check does not share the
feature code's assumptions."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

ACTUALS = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")
"""What a flight's departure (and what follows it) tells: unknown until it leaves."""
CERTAINLY_DELAYED_AFTER = timedelta(minutes=15)


def _scheduled(flights: pd.DataFrame) -> pd.Series:
    hour = pd.to_datetime(flights["time_hour"], utc=True)
    return hour + pd.to_timedelta(flights["minute"], unit="min")


def known_at(tables: dict[str, pd.DataFrame], t: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The tables as they stood at `t`: a flight that had not left has no departure yet
    (nor anything after it); a label not yet settled is missing; weather not yet
    published is absent. Schedules and aircraft are known in advance."""
    flights = tables["flights"].copy()
    scheduled = _scheduled(flights)
    left = scheduled + pd.to_timedelta(pd.to_numeric(flights["dep_delay"]), unit="min")
    gone = (left < t).fillna(False).to_numpy()
    for column in ACTUALS:
        if column in flights:
            flights[column] = flights[column].astype("float64").where(gone)
    settled = left.where(left < scheduled + CERTAINLY_DELAYED_AFTER)
    settled = settled.fillna(scheduled + CERTAINLY_DELAYED_AFTER)
    flights["delayed"] = flights["delayed"].astype("float64").where(settled < t)
    weather = tables["weather"]
    published = pd.to_datetime(weather["time_hour"], utc=True) + timedelta(hours=1)
    return {**tables, "flights": flights, "weather": weather[published <= t]}


def point_in_time(
    source: pd.DataFrame, keys: dict, t: pd.Timestamp, ttl: timedelta, stamp: str
) -> pd.Series | None:
    """Feast's point-in-time read of one entity: its latest row at or before `t`, and no
    older than the view's TTL (none when 0)."""
    rows = source[source[stamp] <= t]
    for key, value in keys.items():
        rows = rows[rows[key] == value]
    if ttl:
        rows = rows[rows[stamp] >= t - ttl]
    return rows.sort_values(stamp).iloc[-1] if len(rows) else None


def same(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) or (
        not pd.isna(a) and not pd.isna(b) and bool(np.isclose(float(a), float(b)))
    )
