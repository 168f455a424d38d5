"""Where a transformer request's time goes, from what the server measures itself: its
`/metrics` scraped before and after a run, and the deltas of each histogram's sum and count.

- feature fetch: online-store read time per request (`sluice_online_feature_fetch_seconds`:
  a read's time shared by the requests batched into it; 0 when the cache answered);
- assembly: the rest of `preprocess` (KServe's `request_preprocess_seconds`): checks, time
  parsing, waiting in the feature batch, building the model input;
- model: `predict` (`request_predict_seconds`): the in-process predictor, micro-batch included;
- protocol: the rest of the latency the client saw (HTTP, JSON, KServe's dataplane, the
  event loop's queue).
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

FETCH = "sluice_online_feature_fetch_seconds"
PREPROCESS = "request_preprocess_seconds"
PREDICT = "request_predict_seconds"

Totals = dict[str, tuple[float, float]]
"""Histogram name → (sum, count) over all its label sets."""


def histogram_totals(text: str) -> Totals:
    """Every histogram's sum and count in a Prometheus text page."""
    totals: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        entry = totals.setdefault(family.name, [0.0, 0.0])
        for sample in family.samples:
            if sample.name == f"{family.name}_sum":
                entry[0] += sample.value
            elif sample.name == f"{family.name}_count":
                entry[1] += sample.value
    return {name: (total, count) for name, (total, count) in totals.items()}


def scrape(http: str) -> Totals:
    return histogram_totals(httpx.get(f"{http}/metrics", timeout=10).raise_for_status().text)


def time_split(before: Totals, after: Totals, latency_mean_ms: float) -> dict:
    """The mean request's milliseconds by part, between two scrapes around a run whose
    client-side mean latency was `latency_mean_ms`. A read serves a whole batch of
    requests, so its time is shared among them: the time a request waits for a read in
    flight counts as assembly, not as fetch."""

    def delta(name: str) -> tuple[float, float]:
        (s0, c0), (s1, c1) = before.get(name, (0.0, 0.0)), after.get(name, (0.0, 0.0))
        return s1 - s0, c1 - c0

    (pre_s, requests), (predict_s, predicts), (fetch_s, reads) = (
        delta(PREPROCESS),
        delta(PREDICT),
        delta(FETCH),
    )
    if not requests or not predicts:
        raise ValueError(f"no requests between the scrapes ({PREPROCESS}, {PREDICT})")
    preprocess_ms, model_ms = pre_s / requests * 1000, predict_s / predicts * 1000
    fetch_ms = fetch_s / requests * 1000
    return {
        "latency_ms": latency_mean_ms,
        "feature_fetch_ms": fetch_ms,
        "assembly_ms": preprocess_ms - fetch_ms,
        "model_ms": model_ms,
        "protocol_ms": latency_mean_ms - preprocess_ms - model_ms,
        "reads_per_request": reads / requests,
    }
