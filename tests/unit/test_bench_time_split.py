"""The split of a transformer request's time, from two real Prometheus pages."""

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from tests.benchmarks.time_split import (
    FETCH,
    PREDICT,
    PREPROCESS,
    histogram_totals,
    time_split,
)


@pytest.fixture
def metrics():
    registry = CollectorRegistry()
    histograms = {
        name: Histogram(name, name, ["model_name"], registry=registry)
        for name in (PREPROCESS, PREDICT)
    }
    histograms[FETCH] = Histogram(FETCH, FETCH, registry=registry)
    return registry, histograms


def _page(registry) -> str:
    return generate_latest(registry).decode()


def test_totals_add_every_label_set_of_a_histogram(metrics):
    registry, histograms = metrics
    histograms[PREPROCESS].labels("a").observe(0.002)
    histograms[PREPROCESS].labels("b").observe(0.004)
    totals = histogram_totals(_page(registry) + "# TYPE other counter\nother_total 3\n")
    assert totals[PREPROCESS] == pytest.approx((0.006, 2))
    assert "other" not in totals


def test_the_split_takes_the_deltas_between_scrapes_and_leaves_the_rest_to_protocol(metrics):
    registry, histograms = metrics
    histograms[PREPROCESS].labels("m").observe(1.0)  # before the run: not counted
    before = histogram_totals(_page(registry))
    for _ in range(4):  # four requests: 3 ms preprocess, 1 ms model
        histograms[PREPROCESS].labels("m").observe(0.003)
        histograms[PREDICT].labels("m").observe(0.001)
    histograms[FETCH].observe(0.004)  # one read served them all
    split = time_split(before, histogram_totals(_page(registry)), latency_mean_ms=6.0)
    assert split["feature_fetch_ms"] == pytest.approx(1.0)
    assert split["assembly_ms"] == pytest.approx(2.0)
    assert split["model_ms"] == pytest.approx(1.0)
    assert split["protocol_ms"] == pytest.approx(2.0)
    assert split["reads_per_request"] == pytest.approx(0.25)


def test_a_run_without_requests_has_no_split(metrics):
    registry, _ = metrics
    page = histogram_totals(_page(registry))
    with pytest.raises(ValueError, match=PREPROCESS):
        time_split(page, page, latency_mean_ms=1.0)
