"""Every temporal feature in the training frame is recomputed here, independently of the
feature code, from source rows strictly earlier than the row's event time minus the
feature's lag. A value that used later data would not match."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from components.flights.features import LAGS

pytestmark = pytest.mark.e2e
SAMPLE = 300


@pytest.fixture(scope="module")
def frames(january_run):
    summary, source = january_run
    validated = summary.validation["validated_path"]
    flights = pd.read_parquet(f"{validated}/flights.parquet")
    flights["sched"] = pd.to_datetime(flights["time_hour"], utc=True) + pd.to_timedelta(
        flights["minute"], unit="min"
    )
    weather = pd.read_parquet(f"{validated}/weather.parquet")
    weather["observed"] = pd.to_datetime(weather["time_hour"], utc=True)
    training = pd.read_parquet(summary.features["training_frame_path"])
    sample = training.sample(SAMPLE, random_state=7)
    return sample, flights, weather


def _close(a, b) -> bool:
    return (pd.isna(a) and pd.isna(b)) or bool(np.isclose(a, b))


def test_weather_uses_only_earlier_observations(frames):
    sample, _, weather = frames
    for _, row in sample.iterrows():
        t = row["event_timestamp"]
        cutoff = t - LAGS["weather_hourly"]
        # Published an hour after observation; Feast TTL 3 h on the publication time.
        earlier = weather[
            (weather["origin"] == row["origin"])
            & (weather["observed"] < cutoff)
            & (weather["observed"] + timedelta(hours=1) <= t)
            & (weather["observed"] + timedelta(hours=4) > t)
        ]
        expected = earlier.sort_values("observed")["temp"].iloc[-1] if len(earlier) else np.nan
        assert _close(row["temp"], expected), (row.to_dict(), expected)


def test_origin_congestion_uses_only_flights_before_the_lag(frames):
    sample, flights, _ = frames
    lag = LAGS["origin_congestion"]
    first_hour = pd.to_datetime(flights["time_hour"], utc=True).min()
    for _, row in sample.iterrows():
        t = row["event_timestamp"]
        if t - timedelta(hours=2) < first_hour:
            assert pd.isna(row["origin_flights"])  # before the data starts: unknown
            continue
        window = flights[
            (flights["origin"] == row["origin"])
            & (flights["sched"] >= t - timedelta(hours=2))
            & (flights["sched"] < t - lag)
        ]
        assert _close(row["origin_flights"], len(window))
        share = window["delayed"].mean() if len(window) else np.nan
        mean_delay = window["dep_delay"].mean() if window["dep_delay"].notna().any() else np.nan
        assert _close(row["origin_delayed_share"], share), row.to_dict()
        assert _close(row["origin_mean_dep_delay"], mean_delay), row.to_dict()


def test_carrier_rate_uses_only_days_before_the_lag(frames):
    sample, flights, _ = frames
    lag = LAGS["carrier_delay_7d"]
    local_day = flights["time_hour"].dt.tz_localize(None).dt.normalize()
    checked = 0
    for _, row in sample.iterrows():
        t = row["event_timestamp"]
        today = t.tz_convert("America/New_York").tz_localize(None).normalize()
        window_days = (local_day >= today - timedelta(days=8)) & (
            local_day <= today - timedelta(days=2)
        )
        window = flights[(flights["carrier"] == row["carrier"]) & window_days]
        assert (window["sched"] < t - lag).all()
        if today - timedelta(days=2) < local_day.min():
            assert pd.isna(row["carrier_delay_rate_7d"])  # no complete day yet
            continue
        assert _close(row["carrier_delay_rate_7d"], window["delayed"].mean()), row.to_dict()
        checked += 1
    assert checked > SAMPLE // 2
