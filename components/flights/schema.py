"""Tables, column types and the label of the flights use case."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from components.base.splits import TimeSplit

TIMEZONE = "America/New_York"
"""Every local time of the use case (schedules, splits, freshness) is New York time."""
REFERENCE_PROFILE = Path(__file__).resolve().parent / "reference_profile.json"
"""Statistics of known-good data that the suite's distribution checks compare to."""

# Column kinds: "int" and "float" are numeric, "str" categorical, "time" an ISO timestamp.
TABLES: dict[str, dict[str, str]] = {
    "flights": {
        "year": "int",
        "month": "int",
        "day": "int",
        "dep_time": "float",
        "sched_dep_time": "int",
        "dep_delay": "float",
        "arr_time": "float",
        "sched_arr_time": "int",
        "arr_delay": "float",
        "carrier": "str",
        "flight": "int",
        "tailnum": "str",
        "origin": "str",
        "dest": "str",
        "air_time": "float",
        "distance": "float",
        "hour": "int",
        "minute": "int",
        "time_hour": "time",
    },
    "weather": {
        "origin": "str",
        "year": "int",
        "month": "int",
        "day": "int",
        "hour": "int",
        "temp": "float",
        "dewp": "float",
        "humid": "float",
        "wind_dir": "float",
        "wind_speed": "float",
        "wind_gust": "float",
        "precip": "float",
        "pressure": "float",
        "visib": "float",
        "time_hour": "time",
    },
    "planes": {
        "tailnum": "str",
        "year": "float",
        "type": "str",
        "manufacturer": "str",
        "model": "str",
        "engines": "int",
        "seats": "int",
        "speed": "float",
        "engine": "str",
    },
    "airports": {
        "faa": "str",
        "name": "str",
        "lat": "float",
        "lon": "float",
        "alt": "float",
        "tz": "float",
        "dst": "str",
        "tzone": "str",
    },
    "airlines": {"carrier": "str", "name": "str"},
}

# (min, max) that no real row can fall outside of.
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "flights": {
        "year": (2000, 2100),
        "month": (1, 12),
        "day": (1, 31),
        "dep_time": (1, 2400),
        "sched_dep_time": (0, 2359),
        "dep_delay": (-120, 1800),
        "arr_time": (1, 2400),
        "sched_arr_time": (0, 2359),
        "arr_delay": (-180, 1800),
        "flight": (1, 9999),
        "air_time": (1, 900),
        "distance": (1, 6000),
        "hour": (0, 23),
        "minute": (0, 59),
    },
    "weather": {
        "month": (1, 12),
        "day": (1, 31),
        "hour": (0, 23),
        "temp": (-40, 130),
        "dewp": (-60, 100),
        "humid": (0, 100),
        "wind_dir": (0, 360),
        "wind_gust": (0, 250),
        "precip": (0, 10),
        "pressure": (900, 1100),
        "visib": (0, 10),
    },
    "planes": {"year": (1900, 2100), "engines": (1, 8), "seats": (1, 1000), "speed": (0, 1000)},
}
# Ranges known to have rare real outliers (the 1048 mph wind reading): warn, never block.
SOFT_RANGES = {"weather": {"wind_speed": (0, 250, 0.9999)}}
# Tables a user source must provide; the others fall back to the packaged reference data.
REQUIRED_TABLES = ("flights", "weather", "planes")

# The columns the reference profile lists the categories of.
PROFILE_CATEGORIES = {
    "flights": ("carrier", "origin", "dest"),
    "weather": ("origin",),
    "planes": ("type",),
}
# Train on January to August, choose the threshold and stop early on September, and hold
# out October to December.
SPLIT = TimeSplit(TIMEZONE, train_end="2013-09-01", valid_end="2013-10-01")
# Evaluation reports the model's AUC on each value of these, and gates on the largest gap.
SLICE_COLUMNS = ["origin", "carrier"]

FLIGHT_KEY = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]
LABEL = "delayed"
EVENT_TIME = "time_hour"
DELAY_THRESHOLD_MINUTES = 15


def event_time(values: pd.Series) -> pd.Series:
    """Timestamps (UTC strings in the source, or already tz-aware) as New York times."""
    parsed = pd.to_datetime(values, utc=True, errors="coerce")
    return parsed.dt.tz_convert(TIMEZONE)


def add_derived_columns(flights: pd.DataFrame) -> pd.DataFrame:
    """Add the label and the event time.

    `delayed` is dep_delay >= 15 minutes, or a cancellation (no dep_time). Values that do
    not parse as numbers are treated as missing here; validation reports them by row.
    """
    out = flights.copy()
    if {"dep_delay", "dep_time"} <= set(out.columns):
        delay = pd.to_numeric(out["dep_delay"], errors="coerce")
        cancelled = pd.to_numeric(out["dep_time"], errors="coerce").isna()
        out[LABEL] = ((delay >= DELAY_THRESHOLD_MINUTES) | cancelled).astype("int8")
    if EVENT_TIME in out.columns:
        out[EVENT_TIME] = event_time(out[EVENT_TIME])
    return out
