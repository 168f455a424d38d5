"""Wall-clock times in a use case's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd


def local_time(value: str | datetime, timezone: str) -> datetime:
    """A time in `timezone`: an ISO 8601 text or a datetime; a naive one is read as local
    time there, an aware one is converted. Raises ValueError for what is not a time, and for
    a naive time that the clocks skip or repeat there (a daylight-saving change): only an
    offset makes it one. The standard library's, not pandas': the transformer reads one per
    request, and `pd.Timestamp` with `tz_localize` costs 5 to 18 times as much (measured:
    18 against 3.4 µs for a naive time, 16 against 0.9 µs with an offset). It reads ISO 8601
    as `datetime.fromisoformat` does, stricter than pandas: no surrounding spaces, no
    unpadded months or hours, and microseconds at most."""
    if isinstance(value, str):
        stamp = datetime.fromisoformat(value)
    elif isinstance(value, datetime):
        stamp = value
    else:
        raise TypeError(f"{value!r} is not a time")
    zone = ZoneInfo(timezone)
    if stamp.tzinfo is not None:
        return stamp.astimezone(zone)
    local = stamp.replace(tzinfo=zone)
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        raise ValueError(
            f"{value!r} is skipped or repeated in {timezone} (daylight saving): give an offset"
        )
    return local


def localized(value: str | datetime, timezone: str) -> pd.Timestamp:
    """`local_time` as a pandas Timestamp, to compare with a column of times."""
    return pd.Timestamp(local_time(value, timezone))
