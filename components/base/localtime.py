"""Wall-clock times in a use case's time zone."""

from __future__ import annotations

import pandas as pd
from pytz.exceptions import InvalidTimeError


def localized(value, timezone: str) -> pd.Timestamp:
    """A timestamp in `timezone`: a naive value is read as local time there, an aware one
    is converted. Raises ValueError for what is not a time, and for a naive time that the
    clocks skip or repeat there (a daylight-saving change): only an offset makes it one."""
    stamp = pd.Timestamp(value)
    if stamp is pd.NaT:
        raise ValueError(f"{value!r} is not a time")
    if stamp.tzinfo:
        return stamp.tz_convert(timezone)
    try:
        return stamp.tz_localize(timezone)
    except InvalidTimeError:
        raise ValueError(
            f"{value!r} is skipped or repeated in {timezone} (daylight saving): give an offset"
        ) from None
