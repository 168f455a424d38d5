"""The retrain trigger (`pipelines/trigger/`) over HTTP, with a real kfp.Client creating runs
on the faithful fake KFP API server (`tests/kfp_fake.py`) and a clock the tests move."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import kfp
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from components.base.settings import Settings
from pipelines.trigger.audit import AuditLog
from pipelines.trigger.metrics import TriggerMetrics
from pipelines.trigger.policy import Limits, Trigger
from pipelines.trigger.service import create_app
from pipelines.trigger.starters import KfpStarter, LocalStarter, sluice_run_command
from tests.kfp_fake import KfpFake

with warnings.catch_warnings():  # "install httpx2": the installed httpx still works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipelines" / "compiled" / "training.yaml"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LIMITS = Limits(cooldown=timedelta(hours=6), max_runs_per_day=3)
DRIFT = {"model_version": "7", "features": ["temp", "dewp"], "reason": "KS p < 0.001"}
RUNS = ("POST", "/apis/v2beta1/runs")


def alertmanager_body(status: str = "firing", alertname: str = "SluiceDriftDetected") -> dict:
    """A webhook exactly as Alertmanager 0.28 sends it (notify/webhook, version 4) for the
    chart's drift alert."""
    labels = {
        "alertname": alertname,
        "model_version": "7",
        "namespace": "sluice",
        "severity": "warning",
    }
    return {
        "receiver": "sluice-retrain",
        "status": status,
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {
                    "summary": "sluice-flights: inputs drifted from the training data",
                    "description": "The drift service has found drift for model version 7 "
                    "for 30 minutes.",
                    "runbook_url": "https://example.org/runbooks/drift-detected.md",
                },
                "startsAt": "2026-12-01T08:30:00.000Z",
                "endsAt": "2026-12-01T10:00:00Z"
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=max+by+%28namespace%29",
                "fingerprint": "3c5a1e9d2b7f4a60",
            }
        ],
        "groupLabels": {"alertname": alertname},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "sluice-flights: inputs drifted from the training data"},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}/{severity=~"warning|info"}:{alertname="' + alertname + '"}',
        "truncatedAlerts": 0,
    }


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _own_kfp_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "context.json"))
    for name in [n for n in os.environ if n.startswith(("SLUICE_KFP", "KF_PIPELINES"))]:
        monkeypatch.delenv(name)


@pytest.fixture
def fake() -> Iterator[KfpFake]:
    with KfpFake() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(fake, clock, tmp_path):
    """`service()` starts a trigger over the state file; call it again for a restart."""
    settings = Settings(KF_PIPELINES_ENDPOINT=fake.url, home=tmp_path / ".sluice")

    def start(limits: Limits = LIMITS) -> TestClient:
        starter = KfpStarter(settings, PACKAGE, "sluice", {"epochs": 2})
        audit = AuditLog(settings.trigger_state_path)
        return TestClient(create_app(Trigger(audit, starter, TriggerMetrics(), limits, clock)))

    return start


def runs_sent(fake: KfpFake) -> list[dict]:
    return [json.loads(r.body) for r in fake.requests if (r.method, r.path) == RUNS]


def audit(client: TestClient) -> list[dict]:
    answer = client.get("/v1/audit")
    assert answer.status_code == 200
    return [json.loads(line) for line in answer.text.splitlines()]


def metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_drift_call_starts_one_run_with_the_trigger_time_as_reference(service, fake):
    client = service()
    answer = client.post("/v1/drift", json=DRIFT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "started"
    (body,) = runs_sent(fake)
    assert body["runtime_config"]["parameters"] == {
        "reference_time": "2026-12-01T09:00:00+00:00",
        "epochs": 2,
    }
    (run,) = fake.runs.values()
    assert answer.json()["run_id"] == run.run_id
    assert run.pipeline_version_reference.pipeline_version_id in fake.versions
    (entry,) = audit(client)
    assert entry | {"detail": ""} == {
        "time": "2026-12-01T09:00:00+00:00",
        "source": "drift",
        "key": "7",
        "model_version": "7",
        "decision": "started",
        "run_id": run.run_id,
        "detail": "",
    }
    assert "temp, dewp" in entry["detail"]
    assert metric(client, 'sluice_retrain_triggered_total{source="drift"}') == 1


def test_the_cooldown_holds_back_one_episode_then_lets_the_next_start(service, fake, clock):
    client = service()
    assert client.post("/v1/drift", json=DRIFT).json()["decision"] == "started"
    clock.now = T0 + timedelta(hours=5, minutes=59)
    again = client.post("/v1/alertmanager", json=alertmanager_body())
    assert again.status_code == 200  # not an error: Alertmanager must not retry it
    assert again.json()["decision"] == "cooldown"
    assert len(fake.runs) == 1
    clock.now = T0 + timedelta(hours=6)
    assert client.post("/v1/drift", json=DRIFT).json()["decision"] == "started"
    assert len(fake.runs) == 2
    assert [e["decision"] for e in audit(client)] == ["started", "cooldown", "started"]
    assert metric(client, 'sluice_retrain_refused_total{reason="cooldown"}') == 1
    (upload,) = [r for r in fake.requests if r.path.endswith("/pipelines/upload_version")]
    assert upload  # one version for both runs of this service


def test_the_rate_limit_counts_runs_in_the_trailing_day(service, fake, clock):
    client = service(Limits(cooldown=timedelta(hours=1), max_runs_per_day=2))
    decisions = []
    for hours in (0, 2, 4, 24, 26):
        clock.now = T0 + timedelta(hours=hours)
        decisions.append(client.post("/v1/drift", json=DRIFT).json()["decision"])
    # at 24 h the run of 0 h has left the window; at 26 h the one of 2 h has too
    assert decisions == ["started", "started", "rate-limited", "started", "started"]
    assert len(fake.runs) == 4
    assert metric(client, 'sluice_retrain_refused_total{reason="rate-limited"}') == 1


def test_cooldown_and_rate_limit_survive_a_restart(service, fake, clock):
    first = service(Limits(cooldown=timedelta(hours=6), max_runs_per_day=2))
    assert first.post("/v1/drift", json=DRIFT).json()["decision"] == "started"
    first.close()

    clock.now = T0 + timedelta(hours=1)
    restarted = service(Limits(cooldown=timedelta(hours=6), max_runs_per_day=2))
    assert restarted.post("/v1/drift", json=DRIFT).json()["decision"] == "cooldown"
    clock.now = T0 + timedelta(hours=7)
    assert restarted.post("/v1/drift", json=DRIFT).json()["decision"] == "started"

    clock.now = T0 + timedelta(hours=14)
    again = service(Limits(cooldown=timedelta(hours=6), max_runs_per_day=2))
    assert again.post("/v1/drift", json=DRIFT).json()["decision"] == "rate-limited"
    assert len(fake.runs) == 2
    assert [e["decision"] for e in audit(again)] == [
        "started",
        "cooldown",
        "started",
        "rate-limited",
    ]


def test_a_real_alertmanager_webhook_for_the_drift_alert_starts_a_run(service, fake):
    client = service()
    body = alertmanager_body()
    answer = client.post("/v1/alertmanager", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "started"
    assert len(fake.runs) == 1
    (entry,) = audit(client)
    assert (entry["source"], entry["key"], entry["model_version"]) == (
        "alertmanager",
        body["groupKey"],
        "7",
    )
    assert metric(client, 'sluice_retrain_triggered_total{source="alertmanager"}') == 1


@pytest.mark.parametrize(
    ("status", "alertname"),
    [("resolved", "SluiceDriftDetected"), ("firing", "SluiceHighLatency")],
)
def test_a_resolved_or_other_alert_is_recorded_and_ignored(service, fake, status, alertname):
    client = service()
    answer = client.post("/v1/alertmanager", json=alertmanager_body(status, alertname))
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "ignored"
    assert not fake.runs
    (entry,) = audit(client)
    assert entry["decision"] == "ignored" and alertname in entry["detail"]
    assert metric(client, 'sluice_retrain_refused_total{reason="ignored"}') == 1
    # an ignored webhook holds nothing back
    assert client.post("/v1/drift", json=DRIFT).json()["decision"] == "started"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/drift", {"features": ["temp"], "reason": "r"}, "model_version"),
        ("/v1/drift", DRIFT | {"features": "temp"}, "features"),
        ("/v1/drift", DRIFT | {"features": []}, "features"),
        ("/v1/drift", DRIFT | {"reason": 3}, "reason"),
        ("/v1/alertmanager", alertmanager_body() | {"version": "3"}, "version"),
        ("/v1/alertmanager", {**alertmanager_body(), "groupKey": None}, "groupKey"),
        ("/v1/alertmanager", alertmanager_body() | {"alerts": [{"labels": {}}]}, "alerts.0.status"),
        ("/v1/alertmanager", alertmanager_body() | {"status": "pending"}, "status"),
    ],
)
def test_a_malformed_body_is_a_400_naming_the_field(service, fake, path, body, field):
    client = service()
    answer = client.post(path, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith(f"{field}:")
    assert not fake.runs
    assert client.post("/v1/drift", json=DRIFT).json()["decision"] == "started"
    assert metric(client, 'sluice_retrain_refused_total{reason="bad-request"}') == 1


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", "\udcff".encode(errors="surrogatepass")])
def test_a_body_that_is_not_a_json_object_is_a_400(service, raw):
    client = service()
    answer = client.post("/v1/drift", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert client.get("/healthz").status_code == 200


def test_kfp_refusing_the_run_is_a_502_that_names_no_token_and_holds_nothing_back(tmp_path, clock):
    token = "tok-91b2c3d4e5f6"
    with KfpFake(token="another-token") as fake:
        settings = Settings(
            KF_PIPELINES_ENDPOINT=fake.url, kfp_token=token, home=tmp_path / ".sluice"
        )
        starter = KfpStarter(settings, PACKAGE, "sluice", {})
        audit_log = AuditLog(settings.trigger_state_path)
        client = TestClient(
            create_app(Trigger(audit_log, starter, TriggerMetrics(), LIMITS, clock))
        )
        answer = client.post("/v1/drift", json=DRIFT)
    assert answer.status_code == 502  # Alertmanager retries a 5xx
    assert answer.json()["decision"] == "failed"
    assert "401" in answer.json()["detail"] and token not in answer.text
    assert token not in client.get("/v1/audit").text
    assert not fake.runs
    assert [e.decision for e in audit_log.entries()] == ["failed"]


def test_local_mode_starts_sluice_run_with_the_parameters(tmp_path, clock):
    recorded: list[dict] = []

    def command(params: dict) -> list[str]:
        recorded.append(params)
        return [sys.executable, "-c", "pass"]

    starter = LocalStarter(tmp_path / "logs", {"epochs": 2}, command)
    trigger = Trigger(AuditLog(tmp_path / "t.db"), starter, TriggerMetrics(), LIMITS, clock)
    answer = TestClient(create_app(trigger)).post("/v1/drift", json=DRIFT)
    assert answer.json()["decision"] == "started"
    assert answer.json()["run_id"].startswith("local-")
    assert recorded == [{"reference_time": "2026-12-01T09:00:00+00:00", "epochs": 2}]
    assert sluice_run_command(recorded[0]) == [
        sys.executable,
        "-m",
        "pipelines.cli",
        "run",
        "--reference-time",
        "2026-12-01T09:00:00+00:00",
        "--param",
        "epochs=2",
    ]
    for child in starter.children():
        child.wait(10)


def test_local_mode_does_not_wait_for_the_run(tmp_path, clock):
    starter = LocalStarter(
        tmp_path / "logs", {}, lambda _: [sys.executable, "-c", "import time; time.sleep(60)"]
    )
    trigger = Trigger(AuditLog(tmp_path / "t.db"), starter, TriggerMetrics(), LIMITS, clock)
    began = time.monotonic()
    answer = TestClient(create_app(trigger)).post("/v1/drift", json=DRIFT)
    took = time.monotonic() - began
    (child,) = starter.children()
    try:
        assert answer.json()["decision"] == "started"
        assert answer.json()["run_id"] == f"local-{child.pid}"
        assert child.poll() is None and took < 5
    finally:
        child.kill()
        child.wait(10)


def test_the_cli_serve_answers_over_http(tmp_path):
    """`sluice trigger serve --local` as a process: it answers, and its audit log is there
    after it is stopped."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "KF_"))}
    env |= {"SLUICE_HOME": str(tmp_path / ".sluice"), "HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "trigger", "serve", "--local", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/alertmanager",
            data=json.dumps(alertmanager_body("resolved")).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.load(answer)["decision"] == "ignored"
    finally:
        server.terminate()
        server.wait(10)
    assert (tmp_path / ".sluice" / "trigger.db").is_file()


def test_a_pinned_reference_time_wins_over_the_trigger_time():
    from pipelines.trigger.starters import run_parameters

    pinned = {"reference_time": "2014-01-01T00:00:00-05:00", "epochs": 2}
    assert run_parameters(T0, pinned) == pinned
