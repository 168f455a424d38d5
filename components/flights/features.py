"""Feature source tables for the flights Feast repo, computed from validated tables.

Every temporal table carries `event_timestamp`: the moment its value becomes known. Feast's
point-in-time join takes the latest row at or before a flight's event time, so the
timestamps below are what keeps training free of leakage. Each view's `LAGS` entry states
the guarantee: every source row behind a value is strictly earlier than event time - lag.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from components.flights.request import CATEGORICAL_FEATURES, REQUEST_NUMERIC, request_features
from components.flights.schema import EVENT_TIME, LABEL, RANGES, SOFT_RANGES

ENTITY_TIMESTAMP = "event_timestamp"
WEATHER_COLUMNS = [
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
]
PLANE_COLUMNS = {"year": "plane_year", "seats": "plane_seats", "engines": "plane_engines"}
# The training frame's order: by event time, then carrier and flight number.
FRAME_ORDER = [ENTITY_TIMESTAMP, "carrier", "flight"]

WEATHER_AVAILABLE_AFTER = timedelta(hours=1)  # an hour's observation is published at its end
CONGESTION_OFFSET = timedelta(hours=2)  # congestion for hour h is used at hour h + 2
CARRIER_WINDOW_DAYS = 7
CARRIER_OFFSET = timedelta(days=2)  # the window ending on day d is used from day d + 2

LAGS = {
    "weather_hourly": timedelta(0),
    "origin_congestion": timedelta(hours=1),
    "carrier_delay_7d": timedelta(days=1),
    "plane_attributes": None,  # static
}


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def weather_source(weather: pd.DataFrame) -> pd.DataFrame:
    out = weather[["origin", *WEATHER_COLUMNS]].copy()
    out[ENTITY_TIMESTAMP] = _utc(weather[EVENT_TIME]) + WEATHER_AVAILABLE_AFTER
    return out.dropna(subset=[ENTITY_TIMESTAMP]).reset_index(drop=True)


def plane_source(planes: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """Static attributes, stamped once at `since` (the start of the data) with no TTL."""
    out = planes[["tailnum", *PLANE_COLUMNS]].rename(columns=PLANE_COLUMNS)
    out[ENTITY_TIMESTAMP] = since
    return out.dropna(subset=["tailnum"]).drop_duplicates("tailnum").reset_index(drop=True)


def _dep_delay_stats(flights: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return flights.groupby(keys, observed=True).agg(
        delay_sum=("dep_delay", "sum"),
        delay_count=("dep_delay", "count"),
        delayed=(LABEL, "sum"),
        flights=(LABEL, "size"),
    )


def congestion_source(flights: pd.DataFrame) -> pd.DataFrame:
    """Mean departure delay and delayed share at each origin, per scheduled hour, on a full
    hourly grid (an hour without flights has 0 flights, not the previous hour's value)."""
    frame = flights.assign(hour_utc=_utc(flights[EVENT_TIME]))
    stats = _dep_delay_stats(frame, ["origin", "hour_utc"])
    hours = pd.date_range(frame["hour_utc"].min(), frame["hour_utc"].max(), freq="h")
    grid = pd.MultiIndex.from_product(
        [sorted(frame["origin"].unique()), hours], names=["origin", "hour_utc"]
    )
    stats = stats.reindex(grid, fill_value=0).reset_index()
    out = pd.DataFrame(
        {
            "origin": stats["origin"],
            "origin_mean_dep_delay": (stats["delay_sum"] / stats["delay_count"]).astype("float64"),
            "origin_delayed_share": (stats["delayed"] / stats["flights"]).astype("float64"),
            "origin_flights": stats["flights"].astype("int64"),
            ENTITY_TIMESTAMP: stats["hour_utc"] + CONGESTION_OFFSET,
        }
    )
    return out


def carrier_rate_source(flights: pd.DataFrame) -> pd.DataFrame:
    """Each carrier's delayed share over a trailing 7-day window of local calendar days."""
    local_day = flights[EVENT_TIME].dt.tz_localize(None).dt.normalize()
    frame = flights.assign(day=local_day)
    daily = frame.groupby(["carrier", "day"], observed=True)[LABEL].agg(["sum", "size"])
    days = pd.date_range(local_day.min(), local_day.max(), freq="D")
    grid = pd.MultiIndex.from_product(
        [sorted(frame["carrier"].unique()), days], names=["carrier", "day"]
    )
    daily = daily.reindex(grid, fill_value=0)
    rolled = (
        daily.groupby(level="carrier")
        .rolling(CARRIER_WINDOW_DAYS, min_periods=1)
        .sum()
        .droplevel(0)
        .reset_index()
    )
    available = (rolled["day"] + CARRIER_OFFSET).dt.tz_localize(
        flights[EVENT_TIME].dt.tz, nonexistent="shift_forward", ambiguous=False
    )
    return pd.DataFrame(
        {
            "carrier": rolled["carrier"],
            "carrier_delay_rate_7d": (rolled["sum"] / rolled["size"]).astype("float64"),
            "carrier_flights_7d": rolled["size"].astype("int64"),
            ENTITY_TIMESTAMP: available.dt.tz_convert("UTC"),
        }
    )


def scheduled_departure(flights: pd.DataFrame) -> pd.Series:
    """The scheduled departure as a New York time: the scheduled hour plus its minute."""
    return flights[EVENT_TIME] + pd.to_timedelta(flights["minute"], unit="min")


def entity_frame(flights: pd.DataFrame) -> pd.DataFrame:
    """One row per flight: the flight key, the entity keys, the request-time features (the
    transformer's own derivation), event time and label."""
    flights = flights.reset_index(drop=True)
    key = pd.DataFrame(
        {
            "year": flights["year"].astype("int64"),
            "day": flights["day"].astype("int64"),
            "flight": flights["flight"].astype("int64"),
            "sched_dep_time": flights["sched_dep_time"].astype("int64"),
            "tailnum": flights["tailnum"].to_numpy(dtype=object),
        }
    )
    derived = request_features(
        carrier=flights["carrier"],
        origin=flights["origin"],
        dest=flights["dest"],
        scheduled=scheduled_departure(flights),
        distance=flights["distance"],
    )
    return pd.concat([key, derived], axis=1).assign(
        **{ENTITY_TIMESTAMP: _utc(flights[EVENT_TIME]), LABEL: flights[LABEL].astype("int64")}
    )


def model_features(feast_features: list[str]) -> list[str]:
    """The model's input columns: categoricals, request-time numerics, then Feast's."""
    return [*CATEGORICAL_FEATURES, *REQUEST_NUMERIC, *feast_features]


def feature_sources(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each Feast view's source table, from the validated tables."""
    flights = tables["flights"]
    since = _utc(flights[EVENT_TIME]).min() - pd.Timedelta(days=1)
    return {
        "weather_hourly": weather_source(tables["weather"]),
        "plane_attributes": plane_source(tables["planes"], since),
        "origin_congestion": congestion_source(flights),
        "carrier_delay_7d": carrier_rate_source(flights),
    }


def feature_ranges() -> dict[str, tuple[float, float]]:
    """The values a served feature may take: the validation ranges of the columns the
    features come from, plus the derived ones. Serving rejects anything outside."""
    weather = {**RANGES["weather"], **{c: r[:2] for c, r in SOFT_RANGES["weather"].items()}}
    return {
        "hour": RANGES["flights"]["hour"],
        "month": RANGES["flights"]["month"],
        "distance": RANGES["flights"]["distance"],
        "day_of_week": (0, 6),
        **{c: weather[c] for c in WEATHER_COLUMNS},
        **{new: RANGES["planes"][old] for old, new in PLANE_COLUMNS.items()},
        "origin_mean_dep_delay": RANGES["flights"]["dep_delay"],
        "origin_delayed_share": (0, 1),
        "origin_flights": (0, 100_000),
        "carrier_delay_rate_7d": (0, 1),
        "carrier_flights_7d": (0, 1_000_000),
    }
