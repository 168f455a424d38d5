"""Feature source tables for the flights Feast repo, computed from validated tables.

Every fact has a time at which it becomes known (`KNOWN_AT` below): a departure delay when
the flight departs, whether a flight is delayed at the earlier of its departure and 15
minutes after schedule (a cancellation then too), an hour's weather at the end of the hour.
Every temporal table carries `event_timestamp`, the moment its row's value becomes usable,
never earlier than the latest fact behind it; Feast's point-in-time join takes the latest
row at or before a flight's event time (its scheduled departure), so that is what keeps
training free of leakage. The leakage test hides every fact not yet known at a sampled
flight's event time and checks that its features do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from components.flights.request import CATEGORICAL_FEATURES, REQUEST_NUMERIC, request_features
from components.flights.schema import (
    DELAY_THRESHOLD_MINUTES,
    EVENT_TIME,
    LABEL,
    RANGES,
    SOFT_RANGES,
)

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
OUTCOME_KNOWN_AFTER = timedelta(minutes=DELAY_THRESHOLD_MINUTES)
"""A flight not gone this long after its schedule is delayed, whatever happens next."""
EVENT_STEP = timedelta(minutes=15)
"""Features are read as of the quarter hour that holds (scheduled departure - horizon):
the states of the day move on this grid, and so many flights share a quarter hour that
the point-in-time join has a few rows to read per entity rather than one per flight."""
CARRIER_WINDOW_DAYS = 7
CARRIER_OFFSET = timedelta(days=2)  # the window ending on day d is used from day d + 2
ROUTE_WINDOW_DAYS = 28
ROUTE_OFFSET = timedelta(days=1, hours=1)  # day d's outcomes are all known by d + 1, 00:15
AIRCRAFT_WINDOW = timedelta(hours=12)
"""How far back the same aircraft's latest departure from New York still counts."""


HORIZON_METADATA = b"sluice.horizon_minutes"
"""The training frame's Parquet key that says how far ahead of departure it was read."""


MAX_HORIZON = timedelta(days=1)
"""The longest horizon: the states of the day are computed from a day before the data."""


def parse_horizon(value) -> timedelta:
    """A prediction horizon: how long before the scheduled departure the prediction is
    made. A duration as pandas reads one ('0', '90min', '2h', ISO 8601 'PT2H') or a number
    of minutes. ValueError names the field and the rule."""
    try:
        horizon = (
            pd.Timedelta(float(value), unit="min") if _is_number(value) else pd.Timedelta(value)
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"horizon: {value!r} is not a duration (e.g. 0, 90min, 2h, PT2H): {exc}"
        ) from None
    if pd.isna(horizon) or horizon < pd.Timedelta(0):
        raise ValueError(f"horizon: {value!r} must be a duration of zero or more")
    if horizon > MAX_HORIZON:
        raise ValueError(f"horizon: {value!r} must be at most {MAX_HORIZON}")
    return horizon.to_pytimedelta()


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def horizon_minutes(horizon: timedelta) -> float:
    return horizon.total_seconds() / 60


@dataclass(frozen=True)
class StateWindow:
    """A trailing window over facts by the time they became known, summarised on a grid
    of `step` (a multiple of `EVENT_STEP`): a row at g, usable from g, for every key and
    every grid point, so that its view's TTL is one step."""

    keys: tuple[str, ...]
    length: timedelta
    step: timedelta
    prefix: str
    ahead: timedelta | None = None  # also count the departures scheduled this far ahead


ORIGIN_STATE = StateWindow(
    ("origin",), timedelta(hours=1), EVENT_STEP, "origin", ahead=timedelta(hours=1)
)
# About a hundred destinations: an hourly grid keeps the point-in-time join small.
DEST_STATE = StateWindow(("dest",), timedelta(hours=3), timedelta(hours=1), "dest")


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def scheduled_departure(flights: pd.DataFrame) -> pd.Series:
    """The scheduled departure as a New York time: the scheduled hour plus its minute."""
    return flights[EVENT_TIME] + pd.to_timedelta(flights["minute"], unit="min")


def departed_at(flights: pd.DataFrame) -> pd.Series:
    """When each flight left (UTC): its schedule plus its departure delay; NaT for a flight
    that did not leave (cancelled) or whose delay is not known."""
    delay = pd.to_numeric(flights["dep_delay"], errors="coerce")
    return _utc(scheduled_departure(flights)) + pd.to_timedelta(delay, unit="min")


def outcome_known_at(flights: pd.DataFrame) -> pd.Series:
    """When each flight's label became known (UTC): at its departure, or 15 minutes after
    its schedule, whichever is first (a flight not gone by then is delayed)."""
    deadline = _utc(scheduled_departure(flights)) + OUTCOME_KNOWN_AFTER
    return departed_at(flights).where(lambda t: t < deadline, deadline)


def weather_source(weather: pd.DataFrame) -> pd.DataFrame:
    out = weather[["origin", *WEATHER_COLUMNS]].copy()
    out[ENTITY_TIMESTAMP] = _utc(weather[EVENT_TIME]) + WEATHER_AVAILABLE_AFTER
    return out.dropna(subset=[ENTITY_TIMESTAMP]).reset_index(drop=True)


def plane_source(planes: pd.DataFrame, since: pd.Timestamp) -> pd.DataFrame:
    """Static attributes, stamped once at `since` (the start of the data) with no TTL."""
    out = planes[["tailnum", *PLANE_COLUMNS]].rename(columns=PLANE_COLUMNS)
    out[ENTITY_TIMESTAMP] = since
    return out.dropna(subset=["tailnum"]).drop_duplicates("tailnum").reset_index(drop=True)


def epoch_seconds(values) -> np.ndarray:
    """UTC epoch seconds of tz-aware times (a Series or a sequence); NaN for NaT."""
    times = pd.DatetimeIndex(values)
    return ((times - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(np.float64)


def _seconds(values) -> np.ndarray:
    """Whole UTC epoch seconds (the data's times are whole minutes)."""
    return pd.DatetimeIndex(values).as_unit("s").asi8


def _trailing(times: np.ndarray, values: np.ndarray, grid: np.ndarray, length: int):
    """How many of the facts (sorted times) fall in [g - length, g) for each grid point g,
    and the sum of their values."""
    high = np.searchsorted(times, grid, "left")
    low = np.searchsorted(times, grid - length, "left")
    total = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    return high - low, total[high] - total[low]


def _keyed(codes: np.ndarray, times: np.ndarray, span: int) -> np.ndarray:
    """Times made sortable by key first: each key's times in its own span, so that one
    sorted array and one `searchsorted` serve every key."""
    return codes.astype(np.int64) * span + times


def state_columns(window: StateWindow) -> dict[str, str]:
    """The window's features and their dtypes (`float` or `int`)."""
    p = window.prefix
    columns = {
        f"{p}_departures": "int",
        f"{p}_mean_dep_delay": "float",
        f"{p}_delayed_share": "float",
    }
    if window.ahead:
        columns[f"{p}_scheduled_ahead"] = "int"
    return columns


def state_source(flights: pd.DataFrame, window: StateWindow) -> pd.DataFrame:
    """Per key, on the window's grid, the facts known in the window before each point:
    departures and their mean delay (by departure time), the delayed share of the flights
    whose outcome became known, and, with `ahead`, the departures scheduled in the coming
    window (a schedule is published in advance)."""
    keys = list(window.keys)
    codes, uniques = pd.MultiIndex.from_frame(flights[keys].astype(object)).factorize()
    scheduled = _utc(scheduled_departure(flights))
    departed, known = departed_at(flights), outcome_known_at(flights)
    delay = pd.to_numeric(flights["dep_delay"], errors="coerce").to_numpy(np.float64)
    outcome = pd.to_numeric(flights[LABEL], errors="coerce").to_numpy(np.float64)
    length = int(window.length.total_seconds())
    ahead = int((window.ahead or timedelta(0)).total_seconds())
    step = pd.Timedelta(window.step)
    # From before any horizon's first read to the last flight's quarter hour: the latest row
    # is then the state of the data's last quarter hour, which the online store serves.
    grid_index = pd.date_range(
        (scheduled.min() - MAX_HORIZON).floor(step) - step,
        scheduled.max().floor(step) + step,
        freq=step,
    )
    seconds = _seconds(grid_index)
    origin = seconds[0] - length - ahead  # every key's facts and windows in its own span
    span = seconds[-1] + ahead - origin + 1
    if len(uniques) * span >= 2**62:
        raise ValueError(f"{window.prefix} state: {len(uniques)} keys over {span} s overflow")
    grid = _keyed(
        np.repeat(np.arange(len(uniques)), len(grid_index)),
        np.tile(seconds - origin, len(uniques)),
        span,
    )

    def facts(times: pd.Series, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = np.full(len(times), -1, dtype=np.int64)
        known = times.notna().to_numpy()
        at[known] = _seconds(times[known]) - origin
        present = known & ~np.isnan(values) & (at >= 0) & (at < span)  # within the grid's reach
        keyed = _keyed(codes[present], at[present], span)
        order = np.argsort(keyed, kind="stable")
        return keyed[order], values[present][order]

    departures, delay_sum = _trailing(*facts(departed, delay), grid, length)
    outcomes, delayed = _trailing(*facts(known, outcome), grid, length)
    names = list(state_columns(window))
    with np.errstate(invalid="ignore", divide="ignore"):
        values = [departures, delay_sum / departures, delayed / outcomes]
    if window.ahead:
        times, _ = facts(scheduled, np.zeros(len(flights)))
        values.append(
            np.searchsorted(times, grid + ahead, "left") - np.searchsorted(times, grid, "left")
        )
    out = pd.DataFrame(dict(zip(names, values, strict=True)))
    code = np.repeat(np.arange(len(uniques)), len(grid_index))
    for i, name in enumerate(keys):
        out.insert(i, name, uniques.get_level_values(i).to_numpy(dtype=object)[code])
    out[ENTITY_TIMESTAMP] = np.tile(grid_index, len(uniques))
    for name, kind in state_columns(window).items():
        out[name] = out[name].astype("int64" if kind == "int" else "float64")
    return out


@dataclass(frozen=True)
class DailyRate:
    """A key's delayed share over a trailing window of local calendar days, usable
    `offset` after the start of the window's last day."""

    keys: tuple[str, ...]
    days: int
    offset: timedelta
    rate: str
    count: str


CARRIER_RATE = DailyRate(
    ("carrier",), CARRIER_WINDOW_DAYS, CARRIER_OFFSET, "carrier_delay_rate_7d", "carrier_flights_7d"
)
ROUTE_RATE = DailyRate(
    ("dest", "origin"), ROUTE_WINDOW_DAYS, ROUTE_OFFSET, "route_delay_rate_28d", "route_flights_28d"
)


def daily_rate_source(flights: pd.DataFrame, rate: DailyRate) -> pd.DataFrame:
    """Each key's delayed share over `rate.days` local calendar days, on every day from
    the key's first flight to the end of the data (a day without flights counts 0 of 0,
    not the previous day's)."""
    keys = list(rate.keys)
    local_day = flights[EVENT_TIME].dt.tz_localize(None).dt.normalize()
    frame = flights.assign(day=local_day)
    daily = frame.groupby([*keys, "day"], observed=True)[LABEL].agg(["sum", "size"])
    days = pd.DataFrame({"day": pd.date_range(local_day.min(), local_day.max(), freq="D")})
    first = frame.groupby(keys, observed=True)["day"].min().rename("first").reset_index()
    grid = first.merge(days, how="cross").query("day >= first")
    daily = daily.reindex(pd.MultiIndex.from_frame(grid[[*keys, "day"]]), fill_value=0)
    rolled = (
        daily.groupby(level=keys, observed=True)
        .rolling(rate.days, min_periods=1)
        .sum()
        .droplevel(list(range(len(keys))))
        .reset_index()
    )
    available = (rolled["day"] + rate.offset).dt.tz_localize(
        flights[EVENT_TIME].dt.tz, nonexistent="shift_forward", ambiguous=False
    )
    return pd.DataFrame(
        {
            **{k: rolled[k] for k in keys},
            rate.rate: (rolled["sum"] / rolled["size"]).astype("float64"),
            rate.count: rolled["size"].astype("int64"),
            ENTITY_TIMESTAMP: available.dt.tz_convert("UTC"),
        }
    )


AIRCRAFT_DELAY = "aircraft_prev_dep_delay"
AIRCRAFT_DEPARTED_AT = "aircraft_departed_at"
"""The aircraft's latest departure (UTC epoch seconds): a value in the store, not a model
input; the model gets the minutes since, as of the flight's event time."""
AIRCRAFT_MINUTES_SINCE = "aircraft_minutes_since_departure"


def aircraft_source(flights: pd.DataFrame) -> pd.DataFrame:
    """Every departure of each aircraft (`tailnum`): its delay and when it left, usable a
    minute after it left, and never before its own scheduled minute has passed, so that a
    flight that left early is not its own "latest departure"."""
    scheduled = _utc(scheduled_departure(flights))
    departed = departed_at(flights)
    known = departed.where(departed > scheduled, scheduled) + pd.Timedelta(minutes=1)
    out = pd.DataFrame(
        {
            "tailnum": flights["tailnum"],
            AIRCRAFT_DELAY: pd.to_numeric(flights["dep_delay"], errors="coerce"),
            AIRCRAFT_DEPARTED_AT: epoch_seconds(departed),
            ENTITY_TIMESTAMP: known,
        }
    )
    return out[departed.notna() & out["tailnum"].notna()].reset_index(drop=True)


def with_elapsed(columns: dict, as_of: np.ndarray) -> dict:
    """The model's aircraft inputs from the store's: minutes since the aircraft's latest
    departure as of `as_of` (UTC epoch seconds), and its delay; both missing when it has
    not left within `AIRCRAFT_WINDOW` before then (the online store keeps the latest
    departure however old, or later than a past flight's time). Training and the
    transformer both derive them here."""
    departed = np.asarray(columns.pop(AIRCRAFT_DEPARTED_AT), dtype=np.float64)
    delay = np.asarray(columns[AIRCRAFT_DELAY], dtype=np.float64)
    minutes = (np.asarray(as_of, dtype=np.float64) - departed) / 60.0
    within = (minutes >= 0) & (minutes <= AIRCRAFT_WINDOW.total_seconds() / 60)
    columns[AIRCRAFT_MINUTES_SINCE] = np.where(within, minutes, np.nan)
    columns[AIRCRAFT_DELAY] = np.where(within, delay, np.nan)
    return columns


def as_of_seconds(scheduled_s, horizon: timedelta) -> np.ndarray:
    """When a flight's features are read, as UTC epoch seconds: its scheduled departure
    (epoch seconds) minus the horizon, floored to the quarter hour. The transformer's, and
    through `as_of` training's event time."""
    step = EVENT_STEP.total_seconds()
    read_at = np.asarray(scheduled_s, dtype=np.float64) - horizon.total_seconds()
    return np.floor(read_at / step) * step


def as_of(scheduled, horizon: timedelta) -> pd.DatetimeIndex:
    """`as_of_seconds` of tz-aware times, as UTC timestamps: training's event time."""
    seconds = as_of_seconds(epoch_seconds(scheduled), horizon)
    return pd.DatetimeIndex(pd.to_datetime(seconds, unit="s", utc=True))


def entity_frame(flights: pd.DataFrame, horizon: timedelta = timedelta(0)) -> pd.DataFrame:
    """One row per flight: the flight key, the entity keys, the request-time features (the
    transformer's own derivation), event time (`as_of`) and label."""
    flights = flights.reset_index(drop=True)
    scheduled = scheduled_departure(flights)
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
        scheduled=scheduled,
        distance=flights["distance"],
    )
    return pd.concat([key, pd.DataFrame(derived)], axis=1).assign(
        **{ENTITY_TIMESTAMP: as_of(scheduled, horizon), LABEL: flights[LABEL].astype("int64")}
    )


def write_frame(frame: pd.DataFrame, path, horizon: timedelta) -> None:
    """The training frame as Parquet, its horizon in the file's metadata: training records
    it in the model it trains, so a model says how far ahead it predicts."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = {
        **(table.schema.metadata or {}),
        HORIZON_METADATA: str(horizon_minutes(horizon)).encode(),
    }
    pq.write_table(table.replace_schema_metadata(metadata), path)


def frame_horizon(path) -> timedelta:
    """The horizon a training frame was read at (0 for a frame written without one)."""
    metadata = pq.read_schema(path).metadata or {}
    return timedelta(minutes=float(metadata.get(HORIZON_METADATA, b"0")))


def model_features(feast_features: list[str]) -> list[str]:
    """The model's input columns: categoricals, request-time numerics, then Feast's (the
    aircraft's departure time as minutes since, `with_elapsed`)."""
    online = [AIRCRAFT_MINUTES_SINCE if f == AIRCRAFT_DEPARTED_AT else f for f in feast_features]
    return [*CATEGORICAL_FEATURES, *REQUEST_NUMERIC, *online]


def feature_sources(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each Feast view's source table, from the validated tables."""
    flights = tables["flights"]
    since = _utc(flights[EVENT_TIME]).min() - pd.Timedelta(days=1)
    return {
        "weather_hourly": weather_source(tables["weather"]),
        "plane_attributes": plane_source(tables["planes"], since),
        "origin_congestion": state_source(flights, ORIGIN_STATE),
        "dest_congestion": state_source(flights, DEST_STATE),
        "carrier_delay_7d": daily_rate_source(flights, CARRIER_RATE),
        "route_delay_28d": daily_rate_source(flights, ROUTE_RATE),
        "aircraft_latest": aircraft_source(flights),
    }


def feature_ranges() -> dict[str, tuple[float, float]]:
    """The values a served feature may take: the validation ranges of the columns the
    features come from, plus the derived ones. Serving rejects anything outside."""
    weather = {**RANGES["weather"], **{c: r[:2] for c, r in SOFT_RANGES["weather"].items()}}
    delay = RANGES["flights"]["dep_delay"]
    states = {}
    for window in (ORIGIN_STATE, DEST_STATE):
        for name, kind in state_columns(window).items():
            states[name] = (0, 100_000) if kind == "int" else delay
        states[f"{window.prefix}_delayed_share"] = (0, 1)
    return {
        "hour": RANGES["flights"]["hour"],
        "month": RANGES["flights"]["month"],
        "distance": RANGES["flights"]["distance"],
        "day_of_week": (0, 6),
        **{c: weather[c] for c in WEATHER_COLUMNS},
        **{new: RANGES["planes"][old] for old, new in PLANE_COLUMNS.items()},
        **states,
        **{rate.rate: (0, 1) for rate in (CARRIER_RATE, ROUTE_RATE)},
        **{rate.count: (0, 1_000_000) for rate in (CARRIER_RATE, ROUTE_RATE)},
        AIRCRAFT_DELAY: delay,
        AIRCRAFT_MINUTES_SINCE: (0, AIRCRAFT_WINDOW.total_seconds() / 60),
    }
