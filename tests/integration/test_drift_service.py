"""The online drift service as a cluster runs it: a process in the drift environment,
fed events in exactly the shape of KServe's logger, and fed by a real sluice server that
logs its calls; on drift it calls a real retrain trigger, which starts one KFP run on the
faithful fake of the KFP API."""

from __future__ import annotations

import os
import uuid

import httpx
import orjson
import pandas as pd
import pytest

from components.base.contract.artifact import ModelArtifact
from components.flights.features import ENTITY_TIMESTAMP
from components.flights.schema import TIMEZONE
from serving.process import model_server
from tests.conftest import build_training_frame
from tests.drift_service import drift_service, trigger_service, wait_until
from tests.kfp_fake import KfpFake
from tests.logger_events import headers, v1_request, v1_response, v2_request, v2_response

pytestmark = pytest.mark.integration
WINDOW = 500
ROWS_PER_CALL = 50
TEMPERATURE = {"temp", "dewp"}
RUNS = ("POST", "/apis/v2beta1/runs")


@pytest.fixture(scope="module")
def kfp():
    with KfpFake() as fake:
        yield fake


@pytest.fixture(scope="module")
def trigger(kfp, registered, tmp_path_factory):
    home = tmp_path_factory.mktemp("trigger")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "KF_"))}
    env |= {"SLUICE_HOME": str(home), "HOME": str(home), "KF_PIPELINES_ENDPOINT": kfp.url}
    with trigger_service(env, "--param", "epochs=2") as running:
        yield running


@pytest.fixture(scope="module")
def drift(registered, trigger, tmp_path_factory):
    """Each version's reference from where the server caches the version it serves."""
    models = os.path.join(registered["env"]["SLUICE_HOME"], "served_models")
    reports = tmp_path_factory.mktemp("drift-reports")
    with drift_service(
        "--models", models,
        "--trigger-url", trigger.url,
        "--window", str(WINDOW),
        "--every", str(WINDOW),
        "--join-timeout", "2",
        "--reports", str(reports),
    ) as running:  # fmt: skip
        running.reports = reports
        yield running


@pytest.fixture(scope="module")
def logging_server(registered, drift):
    with model_server(
        "--model_uri", registered["model_uri"],
        "--max_request_rows", str(ROWS_PER_CALL),
        "--logger_url", f"{drift.url}/",
        env=registered["env"],
    ) as running:  # fmt: skip
        yield running


def _post(url: str, kind: str, event_id: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{url}/", headers=headers(kind, event_id), content=body, timeout=10)


ROW = {"carrier": "UA", "origin": "EWR", "temp": 39.0, "dep_hour": 6}


def test_events_in_the_shape_of_kserves_logger_are_joined_by_id(drift):
    """v1 and v2, a response that comes before its request, and a request whose response
    never comes (the model refused it), dropped after the join timeout and counted."""
    rows_before = drift.metric("sluice_drift_rows_total", model_version="77")
    unanswered_before = drift.metric("sluice_drift_unanswered_requests_total")
    first, second, lonely = (str(uuid.uuid4()) for _ in range(3))
    assert _post(drift.url, "request", first, v1_request([ROW, ROW])).status_code == 202
    assert _post(drift.url, "response", first, v1_response([0.1, 0.2], "77")).status_code == 202
    assert _post(drift.url, "response", second, v2_response([0.3], "77")).status_code == 202
    v2 = v2_request({k: [v] for k, v in ROW.items()})
    assert _post(drift.url, "request", second, v2).status_code == 202
    assert _post(drift.url, "request", lonely, v1_request([ROW])).status_code == 202
    assert drift.metric("sluice_drift_rows_total", model_version="77") == rows_before + 3

    def dropped():  # by the service's own sweep, once the join timeout (2 s) has passed
        return drift.metric("sluice_drift_unanswered_requests_total") > unanswered_before

    wait_until(dropped, 10, "the lonely request counted as unanswered", every=0.5)


@pytest.mark.parametrize(
    ("event_headers", "body", "names"),
    [
        ({"Content-Type": "application/json"}, v1_request([ROW]), "Ce-Id"),
        ({**headers("request", "m1"), "Ce-Type": "dev.knative.other"}, b"{}", "Ce-Type"),
        (headers("request", "m2"), b"\x00\xff not json", "not JSON"),
        (
            {**headers("request", "m5"), "Content-Type": "application/cloudevents+json"},
            b"{nope",
            "binary mode",
        ),
        (headers("request", "m3"), orjson.dumps({"instances": "all"}), "instances"),
        (headers("response", "m4"), orjson.dumps({"predictions": [0.1]}), "model_name"),
    ],
)
def test_a_malformed_event_is_a_400_and_the_service_keeps_working(
    drift, event_headers, body, names
):
    refused_before = sum(
        drift.metric("sluice_drift_malformed_events_total", reason=r)
        for r in ("not_cloudevent", "event_type", "body")
    )
    answer = httpx.post(f"{drift.url}/", headers=event_headers, content=body, timeout=10)
    assert answer.status_code == 400 and names in answer.json()["error"]
    refused = sum(
        drift.metric("sluice_drift_malformed_events_total", reason=r)
        for r in ("not_cloudevent", "event_type", "body")
    )
    assert refused == refused_before + 1
    event_id = str(uuid.uuid4())
    assert _post(drift.url, "request", event_id, v1_request([ROW])).status_code == 202
    assert _post(drift.url, "response", event_id, v1_response([0.5], "77")).status_code == 202
    assert httpx.get(f"{drift.url}/healthz", timeout=5).status_code == 200


@pytest.fixture(scope="module")
def autumn(tmp_path_factory, model_dir) -> pd.DataFrame:
    """October–December flights, as model inputs: the season the January model never saw."""
    root = tmp_path_factory.mktemp("autumn")
    build_training_frame(root, {10, 11, 12}, reference_time="2014-01-01", days=4, materialize=False)
    features = ModelArtifact(model_dir).layout.features
    return pd.read_parquet(root / "frame.parquet")[features].sample(frac=1, random_state=0)


@pytest.fixture(scope="module")
def january(slice_training_frame, model_dir) -> pd.DataFrame:
    """Flights of the training days (to the 20th), which the reference sample came from."""
    frame = pd.read_parquet(slice_training_frame)
    features = ModelArtifact(model_dir).layout.features
    training = frame[frame[ENTITY_TIMESTAMP] < pd.Timestamp("2013-01-20", tz=TIMEZONE)]
    return training[features].sample(frac=1, random_state=1)


def _replay(server, rows: pd.DataFrame) -> None:
    """Through the server, 50 flights a call; every call must be answered."""
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    with httpx.Client(base_url=server.http, timeout=30) as client:
        for start in range(0, len(records), ROWS_PER_CALL):
            body = {"instances": records[start : start + ROWS_PER_CALL]}
            answer = client.post("/v1/models/sluice-flights:predict", json=body)
            assert answer.status_code == 200, answer.text


def _verdict(drift, version: str, checks: int) -> dict | None:
    if drift.metric("sluice_drift_checks_total", model_version=version, outcome="checked") < checks:
        return None
    status = httpx.get(f"{drift.url}/v1/status", timeout=5).json()
    return next(v for v in status["verdicts"] if v["model_version"] == version)


def test_a_sluice_server_logging_its_calls_shows_the_season_drift_and_starts_one_retrain(
    logging_server, drift, trigger, kfp, registered, january, autumn
):
    version = registered["version"]
    _replay(logging_server, january.head(WINDOW))
    calm = wait_until(lambda: _verdict(drift, version, 1), 60, "a check of January traffic")
    assert not calm["is_drift"], calm["top"]
    assert drift.metric("sluice_drift_detected", model_version=version) == 0
    assert not [r for r in kfp.requests if (r.method, r.path) == RUNS]

    _replay(logging_server, autumn.head(WINDOW))
    autumn_verdict = wait_until(lambda: _verdict(drift, version, 2), 60, "a check of autumn")
    assert autumn_verdict["is_drift"]
    assert TEMPERATURE & set(autumn_verdict["top"]), autumn_verdict["top"]
    assert "month" in autumn_verdict["result"]["excluded"]
    assert drift.metric("sluice_drift_detected", model_version=version) == 1
    assert drift.metric("sluice_drift_p_value", model_version=version, feature="temp") < 1e-6
    assert autumn_verdict["score"] is not None  # against the validation scores in the artifact

    runs = wait_until(
        lambda: [orjson.loads(r.body) for r in kfp.requests if (r.method, r.path) == RUNS],
        30,
        "the retrain run",
    )
    assert len(runs) == 1 and "reference_time" in runs[0]["runtime_config"]["parameters"]
    audit = [orjson.loads(line) for line in httpx.get(f"{trigger.url}/v1/audit").text.splitlines()]
    assert [(e["source"], e["decision"]) for e in audit] == [("drift", "started")]
    assert (drift.reports / f"sluice-flights-{version}" / "drift.html").is_file()

    # the same episode goes on: more drifted windows, and no second run
    _replay(logging_server, autumn.iloc[WINDOW : 2 * WINDOW])
    wait_until(lambda: _verdict(drift, version, 3), 60, "a third check")
    calls = sum(
        drift.metric("sluice_drift_trigger_calls_total", decision=d)
        for d in ("started", "cooldown", "rate-limited", "failed")
    )
    assert calls == 1  # the drift service called once; the trigger's cooldown was not needed
    assert len([r for r in kfp.requests if (r.method, r.path) == RUNS]) == 1


def test_a_versions_reference_is_read_from_an_mlflow_tracking_server(registered):
    """The cluster's way: the metadata that registration stamped at the root of the
    version's artifacts, over the tracking server's HTTP API (no mlflow package)."""
    from serving.drift.references import References, ReferenceUnavailable
    from tests.services import BIN, _running, free_port

    port = free_port()
    backend = registered["env"]["MLFLOW_TRACKING_URI"]
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", backend, "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with _running(command, port, "mlflow", ready=f"{url}/health", timeout=120):
        references = References(mlflow_url=url)
        reference = references.get("sluice-flights", registered["version"])
        assert reference.source == f"MLflow sluice-flights v{registered['version']}"
        assert len(reference.sample) == 5000 and "temp" in reference.features.numeric
        assert 0 < len(reference.scores) <= 5000 and 0 <= reference.scores.min()
        with pytest.raises(ReferenceUnavailable, match="version 999 from the MLflow server"):
            references.get("sluice-flights", "999")
