"""Wall-clock times in a use case's time zone."""

from __future__ import annotations

import pandas as pd


def localized(value, timezone: str) -> pd.Timestamp:
    """A timestamp in `timezone`: a naive value is read as local time there, an aware one
    is converted. Raises ValueError for what is not a time."""
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError(f"{value!r} is not a time")
    return stamp.tz_convert(timezone) if stamp.tzinfo else stamp.tz_localize(timezone)
