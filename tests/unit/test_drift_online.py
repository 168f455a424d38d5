"""The online drift path, piece by piece: KServe logger events read, requests joined with
their responses, per-version windows, and the monitor's checks (with the scipy detector,
which runs in this environment; alibi-detect's equality to it is held in the drift one)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import UNREGISTERED
from pipelines.trigger.audit import AuditLog
from pipelines.trigger.metrics import TriggerMetrics
from pipelines.trigger.policy import Limits, Trigger
from pipelines.trigger.service import create_app
from pipelines.trigger.starters import LocalStarter
from serving.drift.events import EventError, Ignored, LoggedRequest, LoggedResponse, parse
from serving.drift.joiner import Joiner
from serving.drift.monitor import DriftMonitor, MonitorConfig
from serving.drift.references import References
from serving.drift.trigger_client import TriggerClient
from serving.drift.windows import Window
from serving.process import free_port
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
        (
            {**headers("request", "x"), "Content-Type": "application/cloudevents+json"},
            b"{nope",
            "not_cloudevent",
            "binary mode",
        ),
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
        (
            headers("response", "x"),
            b'{"outputs": [{"name": "delayed", "data": [true]}], "model_name": "m"}',
            "body",
            "probability",
        ),
        (
            headers("request", "x"),
            v1_request([{**ROWS[0], "temp": {"celsius": 4}}]),
            "body",
            "instances[0].temp",
        ),
        (
            headers("request", "x"),
            b'{"inputs": [{"name": "a", "data": [1, [2]]}]}',
            "body",
            "inputs[0] (a)",
        ),
    ],
)
def test_a_malformed_event_is_refused_naming_the_header_or_field(
    event_headers, body, reason, names
):
    with pytest.raises(EventError) as refused:
        parse(event_headers, body)
    assert refused.value.reason == reason
    assert names in str(refused.value)


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        ("request", b"", "no_body"),  # a GET: metadata, readiness
        ("response", b'{"name": "sluice-flights", "ready": true}', "no_scores"),
        (
            "response",
            b'{"name": "sluice-flights", "platform": "onnxruntime_onnx", '
            b'"outputs": [{"name": "probability", "datatype": "FP32", "shape": [-1]}]}',
            "no_scores",
        ),
    ],
)
def test_an_event_about_no_inference_is_ignored_not_refused(kind, body, reason):
    """KServe's agent logs every call through it, metadata and health included."""
    assert parse(headers(kind, "x"), body) == Ignored(reason)


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


def _feed(monitor, rng, rows: int, temp_mean: float, month: int, version="4", start=0, batch=50):
    for i in range(start, start + rows // batch):
        columns = {
            "carrier": rng.choice(["AA", "UA", "B6"], batch).tolist(),
            "temp": rng.normal(temp_mean, 8, batch).round(1).tolist(),
            "month": [month] * batch,
        }
        rows_ = [
            dict(zip(columns, values, strict=True))
            for values in zip(*columns.values(), strict=True)
        ]
        monitor.ingest(headers("request", f"e{i}"), v1_request(rows_))
        scores = rng.beta(2, 8, batch).round(6).tolist()
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
    config = MonitorConfig(window=500, every=500, detector="scipy")  # the calendar left out
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


class TriggerServer:
    """The real retrain trigger (`pipelines.trigger`) on loopback, in a thread; its starter
    runs `true` instead of `sluice run`. Stop and start it to be unreachable for a while."""

    def __init__(self, state: Path, cooldown: timedelta = timedelta(0)):
        self.state, self.cooldown = state, cooldown
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = None

    def start(self) -> TriggerServer:
        import uvicorn

        trigger = Trigger(
            AuditLog(self.state),
            LocalStarter(self.state.parent / "logs", {}, command=lambda params: ["true"]),
            TriggerMetrics(),
            Limits(cooldown=self.cooldown, max_runs_per_day=100),
        )
        config = uvicorn.Config(create_app(trigger), port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            assert time.time() < deadline, "the trigger did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)

    def decisions(self) -> list[str]:
        return [e.decision for e in AuditLog(self.state).entries(100)]


def _monitor(tmp_path, trigger: TriggerServer | None, **config) -> DriftMonitor:
    rng = np.random.default_rng(2)
    _write_reference(tmp_path / "models" / "sluice-flights-4", rng)
    settings = {"window": 100, "every": 100, "detector": "scipy", **config}
    return DriftMonitor(
        References(models_dir=tmp_path / "models"),
        MonitorConfig(**settings),
        trigger=None if trigger is None else TriggerClient(trigger.url, timeout_s=30),
    )


def _calls(monitor, decision: str) -> float:
    value = monitor.metrics.registry.get_sample_value(
        "sluice_drift_trigger_calls_total", {"decision": decision}
    )
    return value or 0.0


def test_one_drift_episode_calls_the_trigger_once_and_a_new_episode_calls_again(tmp_path):
    trigger = TriggerServer(tmp_path / "trigger.db").start()
    monitor = _monitor(tmp_path, trigger)
    rng = np.random.default_rng(3)
    try:
        _feed(monitor, rng, 100, temp_mean=65, month=2)
        _settled(monitor, 1)
        _feed(monitor, rng, 100, temp_mean=65, month=2, start=10)
        _settled(monitor, 2)  # two drifted checks: one episode
        assert trigger.decisions() == ["started"] and _calls(monitor, "started") == 1
        _feed(monitor, rng, 100, temp_mean=40, month=2, start=20)
        _settled(monitor, 3)  # back in line: the episode is over
        assert not monitor.verdicts[("sluice-flights", "4")].result.is_drift
        _feed(monitor, rng, 100, temp_mean=65, month=2, start=30)
        _settled(monitor, 4)  # a new episode
        assert trigger.decisions() == ["started", "started"]
    finally:
        monitor.close()
        trigger.stop()


def test_an_episode_whose_trigger_call_failed_calls_again_at_the_next_check(tmp_path):
    trigger = TriggerServer(tmp_path / "trigger.db")  # not started: unreachable
    monitor = _monitor(tmp_path, trigger)
    rng = np.random.default_rng(4)
    try:
        _feed(monitor, rng, 100, temp_mean=65, month=2)
        _settled(monitor, 1)
        assert _calls(monitor, "failed") == 1 and _calls(monitor, "started") == 0
        trigger.start()
        _feed(monitor, rng, 100, temp_mean=65, month=2, start=10)
        _settled(monitor, 2)
        assert _calls(monitor, "started") == 1 and trigger.decisions() == ["started"]
    finally:
        monitor.close()
        trigger.stop()


def test_a_version_replaced_by_another_is_retired_and_its_gauges_go(tmp_path):
    clock = Clock()
    rng = np.random.default_rng(5)
    _write_reference(tmp_path / "models" / "sluice-flights-4", rng)
    monitor = DriftMonitor(
        References(models_dir=tmp_path / "models"),
        MonitorConfig(window=100, every=100, detector="scipy", idle_s=600),
        clock=clock,
    )
    registry = monitor.metrics.registry
    labels = {"model_version": "4"}
    try:
        _feed(monitor, rng, 100, temp_mean=65, month=2)
        _settled(monitor, 1)
        assert registry.get_sample_value("sluice_drift_detected", labels) == 1
        clock.now = 3600
        monitor.sweep()  # quiet, but nothing replaced it: a night without traffic
        assert ("sluice-flights", "4") in monitor.verdicts
        _feed(monitor, rng, 50, temp_mean=40, month=2, version="5", start=10)  # a rollout
        monitor.sweep()
        assert ("sluice-flights", "4") not in monitor.verdicts | monitor.windows
        assert registry.get_sample_value("sluice_drift_detected", labels) is None
        p_temp = registry.get_sample_value("sluice_drift_p_value", {**labels, "feature": "temp"})
        assert p_temp is None
        assert ("sluice-flights", "5") in monitor.windows
    finally:
        monitor.close()


def test_a_window_due_while_its_last_check_runs_slides_on(tmp_path):
    monitor = _monitor(tmp_path, None, window=100, every=50)
    rng = np.random.default_rng(6)
    key = ("sluice-flights", "4")
    try:
        monitor._checking.add(key)  # as while a slow check runs
        _feed(monitor, rng, 150, temp_mean=40, month=2)
        busy = monitor.metrics.registry.get_sample_value(
            "sluice_drift_checks_total", {"model_version": "4", "outcome": "busy"}
        )
        assert busy == 2 and not monitor.verdicts
        monitor._checking.clear()
        _feed(monitor, rng, 25, temp_mean=40, month=2, start=10, batch=25)
        # 25 new rows since the skipped check: not due, and nothing was taken for a check
        assert monitor.windows[key]._new == 25 and not monitor._checking
        _feed(monitor, rng, 25, temp_mean=40, month=2, start=20, batch=25)
        _settled(monitor, 1)
        assert monitor.verdicts[key].result.rows_current == 100
    finally:
        monitor.close()
