"""What a caller knows about a flight when it asks for a prediction, and the features
derived from it. The training frame (`features.entity_frame`) and the transformer both
derive them through `request_features`, so each is computed one way: two derivations of
one feature is how training/serving skew starts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from components.base.localtime import local_time
from components.flights.schema import TIMEZONE

TEXT_FIELDS = ("carrier", "origin", "dest", "tailnum", "sched_dep_time")
NUMBER_FIELDS = ("distance",)
REQUEST_FIELDS = (*TEXT_FIELDS, *NUMBER_FIELDS)
"""A request's fields: `sched_dep_time` is ISO 8601, New York time when it has no offset."""
ENTITY_KEYS = ("origin", "tailnum", "carrier", "dest")
"""The Feast join keys a request carries."""

CATEGORICAL_FEATURES = ("carrier", "origin", "dest")
REQUEST_NUMERIC = ("hour", "day_of_week", "month", "distance")
REQUEST_FEATURES = (*CATEGORICAL_FEATURES, *REQUEST_NUMERIC)
"""Known at request time: sent by the caller or derived from what it sent, never looked up.
In model order: the categorical features, then the request-time numerics."""
CALENDAR_FEATURES = ("hour", "day_of_week", "month")
"""Request-time features read off the calendar: they change by construction (every new
month has a new `month`), so drift detection leaves them out by default."""

EXAMPLE_REQUEST = {
    "carrier": "UA",
    "origin": "EWR",
    "dest": "IAH",
    "tailnum": "N14228",
    "sched_dep_time": "2013-12-31T08:15:00",
    "distance": 1400,
}


def scheduled_departure(value, row: int) -> datetime:
    """A request time as a New York time. ValueError names the row when it is not one."""
    try:
        return local_time(value, TIMEZONE)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"row {row}: sched_dep_time {value!r} is not an ISO 8601 local time ({exc})"
        ) from None


def scheduled_departures(values: Iterable) -> pd.Series:
    """Request times as New York times. ValueError names the first row that is not one."""
    local = [scheduled_departure(value, row) for row, value in enumerate(values)]
    return pd.Series(pd.DatetimeIndex(local, tz=TIMEZONE))


def request_features(
    carrier: Sequence,
    origin: Sequence,
    dest: Sequence,
    scheduled: pd.Series | Sequence[datetime],
    distance: Sequence,
) -> pd.DataFrame:
    """The request-time features, one row per flight, columns in `REQUEST_FEATURES` order.
    `scheduled` is the scheduled departure, tz-aware (New York): a Series, or a sequence of
    timestamps."""
    local = pd.DatetimeIndex(scheduled).tz_convert(TIMEZONE)
    return pd.DataFrame(
        {
            "carrier": np.asarray(carrier, dtype=object),
            "origin": np.asarray(origin, dtype=object),
            "dest": np.asarray(dest, dtype=object),
            "hour": local.hour.to_numpy(np.int64),
            "day_of_week": local.dayofweek.to_numpy(np.int64),
            "month": local.month.to_numpy(np.int64),
            "distance": np.asarray(distance, dtype=np.float64),
        },
        columns=list(REQUEST_FEATURES),
    )
