"""The online drift path, piece by piece: KServe logger events read, requests joined with
their responses, per-version windows, and the monitor's checks (with the scipy detector,
which runs in this environment; alibi-detect's equality to it is held in the drift one)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import UNREGISTERED
from serving.drift.events import EventError, LoggedRequest, LoggedResponse, parse
from serving.drift.joiner import Joiner
from serving.drift.monitor import DriftMonitor, MonitorConfig
from serving.drift.references import References
from serving.drift.windows import Window
from tests.logger_events import headers, v1_request, v1_response, v2_request, v2_response

ROWS = [
    {"carrier": "UA", "origin": "EWR", "temp": 39.0, "dep_hour": 6},
    {"carrier": "AA", "origin": "JFK", "temp": None, "dep_hour": 17},
]


def test_a_v1_request_and_response_are_read_as_kserve_logs_them():
    request = parse(headers("request", "id-1"), v1_request(ROWS))
    assert isinstance(request, LoggedRequest)
    assert request.id == "id-1" and request.rows == 2
    assert request.columns == {
        "carrier": ["UA", "AA"],
        "origin": ["EWR", "JFK"],
        "temp": [39.0, None],
        "dep_hour": [6, 17],
    }
    response = parse(headers("response", "id-1"), v1_response([0.1, 0.7], "4"))
    assert response == LoggedResponse("id-1", "sluice-flights", "4", [0.1, 0.7])


def test_a_v2_request_and_response_are_read_by_input_and_output_name():
    request = parse(headers("request", "id-2"), v2_request({"carrier": ["UA"], "temp": [12.5]}))
    assert request.columns == {"carrier": ["UA"], "temp": [12.5]}
    response = parse(headers("response", "id-2"), v2_response([0.25], "7"))
    assert (response.model_version, response.scores) == ("7", [0.25])


def test_a_server_without_a_registered_version_is_unregistered():
    response = parse(headers("response", "id-3"), v1_response([0.5], None))
    assert response.model_version == UNREGISTERED


@pytest.mark.parametrize(
    ("event_headers", "body", "reason", "names"),
    [
        ({"Content-Type": "application/json"}, v1_request(ROWS), "not_cloudevent", "Ce-Id"),
        (
            {k: v for k, v in headers("request", "x").items() if k != "Ce-Source"},
            v1_request(ROWS),
            "not_cloudevent",
            "Ce-Source",
        ),
        (
            {**headers("request", "x"), "Ce-Specversion": "0.9"},
            v1_request(ROWS),
            "not_cloudevent",
            "specversion",
        ),
        (
            {**headers("request", "x"), "Ce-Type": "com.example.other"},
            b"{}",
            "event_type",
            "Ce-Type",
        ),
        (headers("request", "x"), b"", "body", "empty"),
        (headers("request", "x"), b"{not json", "body", "not JSON"),
        (headers("request", "x"), b"[1, 2]", "body", "JSON object"),
        (headers("request", "x"), b'{"rows": []}', "body", "instances"),
        (headers("request", "x"), b'{"instances": []}', "body", "instances"),
        (headers("request", "x"), v1_request([ROWS[0], {"carrier": "UA"}]), "body", "instances[1]"),
        (
            headers("request", "x"),
            b'{"inputs": [{"name": "a", "data": [1, 2]}, {"name": "b", "data": [1]}]}',
            "body",
            "inputs[1] (b)",
        ),
        (headers("response", "x"), b'{"predictions": ["a"], "model_name": "m"}', "body", "scores"),
        (headers("response", "x"), b'{"predictions": [0.1]}', "body", "model_name"),
        (headers("response", "x"), b'{"outputs": [], "model_name": "m"}', "body", "probability"),
    ],
)
def test_a_malformed_event_is_refused_naming_the_header_or_field(
    event_headers, body, reason, names
):
    with pytest.raises(EventError) as refused:
        parse(event_headers, body)
    assert refused.value.reason == reason
    assert names in str(refused.value)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _pair(event_id: str, version: str = "4", rows=ROWS):
    request = parse(headers("request", event_id), v1_request(rows))
    response = parse(headers("response", event_id), v1_response([0.2] * len(rows), version))
    return request, response


def test_a_request_and_its_response_join_in_either_order():
    joiner = Joiner(timeout_s=5)
    request, response = _pair("a")
    assert joiner.add(request) is None
    joined = joiner.add(response)
    assert (joined.model_version, joined.rows, joined.columns["origin"]) == ("4", 2, ["EWR", "JFK"])
    request, response = _pair("b", version="5")
    assert joiner.add(response) is None
    assert joiner.add(request).model_version == "5"
    assert len(joiner) == 0


def test_a_request_whose_response_never_comes_is_dropped_and_counted_after_the_timeout():
    clock = Clock()
    joiner = Joiner(timeout_s=5, clock=clock)
    joiner.add(_pair("lonely")[0])
    joiner.add(_pair("orphan")[1])
    clock.now = 4.9
    assert (joiner.expire().requests, len(joiner)) == (0, 2)
    clock.now = 5.1
    expired = joiner.expire()
    assert (expired.requests, expired.responses, len(joiner)) == (1, 1, 0)
    request, response = _pair("lonely")
    joiner.add(response)  # too late: its request is gone, so it waits alone
    assert len(joiner) == 1


def test_the_join_table_is_bounded():
    joiner = Joiner(timeout_s=60, max_pending=3, clock=Clock())
    for i in range(5):
        joiner.add(_pair(f"r{i}")[0])
    assert joiner.expire().requests == 2 and len(joiner) == 3


def test_a_response_with_another_row_count_than_its_request_is_refused():
    joiner = Joiner()
    joiner.add(_pair("a")[0])
    with pytest.raises(EventError, match="2 rows, its response 1 scores"):
        joiner.add(parse(headers("response", "a"), v1_response([0.3], "4")))


def test_a_window_is_due_when_full_and_again_every_n_new_rows():
    window = Window(size=4, every=2)
    columns = {"a": [1, 2, 3], "b": ["x", "y", "z"]}
    window.add(columns, [0.1, 0.2, 0.3])
    assert not window.due()
    window.add({"b": ["w"], "a": [4]}, [0.4])  # the same features, named in another order
    assert window.due()
    frame, scores = window.take()
    assert frame.to_dict("list") == {"a": [1, 2, 3, 4], "b": ["x", "y", "z", "w"]}
    assert scores == [0.1, 0.2, 0.3, 0.4] and not window.due()
    window.add({"a": [5], "b": ["v"]}, [0.5])
    assert not window.due()
    window.add({"a": [6], "b": ["u"]}, [0.6])
    frame, _ = window.take()
    assert frame["a"].tolist() == [3, 4, 5, 6]


def _write_reference(models, rng) -> pd.DataFrame:
    models.mkdir(parents=True)
    reference = pd.DataFrame(
        {
            "carrier": rng.choice(["AA", "UA", "B6"], 3000),
            "temp": rng.normal(40, 8, 3000).round(1),
            "month": rng.integers(1, 9, 3000),
        }
    )
    ModelMetadata(
        features=["carrier", "temp", "month"],
        categorical=["carrier"],
        numeric=["temp", "month"],
        vocabularies={},
        threshold=0.5,
        label="delayed",
        time_split={},
        reference_sample=reference.to_dict("list"),
        score_reference=rng.beta(2, 8, 3000).round(6).tolist(),
    ).write(models)
    return reference


def _feed(monitor, rng, rows: int, temp_mean: float, month: int, version="4", start=0):
    for i in range(start, start + rows // 50):
        columns = {
            "carrier": rng.choice(["AA", "UA", "B6"], 50).tolist(),
            "temp": rng.normal(temp_mean, 8, 50).round(1).tolist(),
            "month": [month] * 50,
        }
        rows_ = [
            dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)
        ]
        monitor.ingest(headers("request", f"e{i}"), v1_request(rows_))
        scores = rng.beta(2, 8, 50).round(6).tolist()
        monitor.ingest(headers("response", f"e{i}"), v1_response(scores, version))


def _settled(monitor, checks: int, timeout: float = 20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = sum(
            s.value
            for metric in monitor.metrics.checks.collect()
            for s in metric.samples
            if s.name.endswith("_total") and s.labels["outcome"] != "busy"
        )
        if done >= checks and not monitor._checking:
            return
        time.sleep(0.05)
    raise TimeoutError("the checks did not finish")


def test_the_monitor_checks_each_version_against_its_own_reference_and_leaves_the_calendar_out(
    tmp_path,
):
    rng = np.random.default_rng(0)
    _write_reference(tmp_path / "sluice-flights-4", rng)
    config = MonitorConfig(window=500, every=500, detector="scipy", exclude=("month",))
    monitor = DriftMonitor(References(models_dir=tmp_path), config)
    try:
        _feed(monitor, rng, 500, temp_mean=40, month=11)  # another month, the same weather
        _settled(monitor, 1)
        calm = monitor.verdicts[("sluice-flights", "4")]
        assert not calm.result.is_drift
        assert calm.result.excluded == ["month"]
        assert "month" not in [f.feature for f in calm.result.features]
        assert calm.score is not None and not calm.score.drifted
        _feed(monitor, rng, 500, temp_mean=60, month=11, start=100)  # a warmer season
        _settled(monitor, 2)
        warm = monitor.verdicts[("sluice-flights", "4")]
        assert warm.result.is_drift and warm.result.top(1) == ["temp"]
        detected = monitor.metrics.registry.get_sample_value(
            "sluice_drift_detected", {"model_version": "4"}
        )
        assert detected == 1.0
        p_temp = monitor.metrics.registry.get_sample_value(
            "sluice_drift_p_value", {"model_version": "4", "feature": "temp"}
        )
        assert p_temp == warm.result.features[0].p_value < 1e-6
    finally:
        monitor.close()


def test_a_version_without_a_reference_is_counted_and_the_service_goes_on(tmp_path):
    rng = np.random.default_rng(1)
    _write_reference(tmp_path / "sluice-flights-4", rng)
    config = MonitorConfig(window=100, every=100, detector="scipy")
    monitor = DriftMonitor(References(models_dir=tmp_path), config)
    try:
        _feed(monitor, rng, 100, temp_mean=40, month=3, version="9")
        _settled(monitor, 1)
        no_reference = monitor.metrics.registry.get_sample_value(
            "sluice_drift_checks_total", {"model_version": "9", "outcome": "no_reference"}
        )
        assert no_reference == 1.0 and ("sluice-flights", "9") not in monitor.verdicts
        _feed(monitor, rng, 100, temp_mean=40, month=3, version="4", start=10)
        _settled(monitor, 2)
        assert ("sluice-flights", "4") in monitor.verdicts
    finally:
        monitor.close()
