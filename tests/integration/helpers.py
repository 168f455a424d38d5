"""Helpers the server tests share: what callers send, v2 inputs for feature rows, and a
server's metrics."""

from collections import Counter

import httpx
import numpy as np
import pandas as pd
from kserve.protocol.infer_type import InferInput
from prometheus_client.parser import text_string_to_metric_families

from components.flights.request import REQUEST_FIELDS

FLIGHTS = [
    {
        "carrier": "UA",
        "origin": "EWR",
        "dest": "IAH",
        "tailnum": "N14228",
        "sched_dep_time": "2013-01-31T08:15:00",
        "distance": 1400,
    },
    {
        "carrier": "B6",
        "origin": "JFK",
        "dest": "BOS",
        "tailnum": "N0UNKNOWN",
        "sched_dep_time": "2013-01-31T18:40:00-05:00",
        "distance": 187,
    },
]
"""Two flights as a caller sends them: one the online store knows, one unknown tailnum."""


def caller_requests(flights: pd.DataFrame) -> dict[str, list]:
    """What a caller sends for these validated flights: its own wall-clock time, written
    from the raw schedule; a flight without a tail number sends `UNKNOWN`."""
    schedule = flights[["year", "month", "day", "sched_dep_time"]].astype(int)
    when = [
        f"{y:04d}-{m:02d}-{d:02d}T{t // 100:02d}:{t % 100:02d}:00"
        for y, m, d, t in schedule.itertuples(index=False)
    ]
    sent = {
        "carrier": flights["carrier"].tolist(),
        "origin": flights["origin"].tolist(),
        "dest": flights["dest"].tolist(),
        "tailnum": flights["tailnum"].fillna("UNKNOWN").tolist(),
        "sched_dep_time": when,
        "distance": flights["distance"].tolist(),
    }
    assert list(sent) == list(REQUEST_FIELDS)
    return sent


def v2_inputs(rows: pd.DataFrame, layout, binary_data: bool = False) -> list[InferInput]:
    """One input per feature; `binary_data` sends the values as raw bytes (gRPC
    `raw_input_contents`), as Triton-style clients do."""
    inputs = []
    for name in layout.features:
        categorical = name in layout.categorical
        item = InferInput(name, [len(rows)], "BYTES" if categorical else "FP32")
        column = rows[name].astype(str) if categorical else rows[name]
        item.set_data_from_numpy(
            column.to_numpy(object if categorical else np.float32), binary_data=binary_data
        )
        inputs.append(item)
    return inputs


def metric_samples(http: str) -> Counter:
    """Every sample on a server's /metrics, by name and labels: take two and subtract to
    measure what happened in between."""
    text = httpx.get(f"{http}/metrics").text
    return Counter(
        {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
    )
