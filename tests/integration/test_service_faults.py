"""A shared service down, unreachable or refusing the credential: the step fails with an
error naming the service and where it is (password masked) and the variable that holds
the credential (never its value), after retries, and leaves nothing half-written. A server
whose online store goes down or hangs answers 503 meanwhile, turns not ready, and recovers
by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from kserve import InferenceGRPCClient

from components.base.contract.names import MODEL_NAME
from components.base.services import ServiceUnavailable
from components.base.storage import Location
from components.featurize import run as featurize
from components.flights.feature_repo.store import FeastStores
from components.ingest import run as ingest
from serving.process import Server, free_port, model_server
from tests.integration.helpers import FLIGHTS, metric_samples
from tests.services import S3_KEYS, postgres_server, redis_server, s3_server

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_keys(monkeypatch):
    for key, value in S3_KEYS.items():
        monkeypatch.setenv(key, value)


def _validated(slice_training_frame: Path) -> Path:
    return slice_training_frame.parent / "validated"


def test_postgres_down_names_the_registry_with_its_password_masked(tmp_path):
    url = f"postgresql+psycopg://sluice:pw-5e4d3c@127.0.0.1:{free_port()}/feast"
    with pytest.raises(ServiceUnavailable) as error:
        FeastStores(registry=url).open(tmp_path / "repo")
    said = str(error.value)
    assert said.startswith("Feast SQL registry at postgresql+psycopg://sluice:***@127.0.0.1")
    assert "unreachable after 4 attempts" in said and "SLUICE_FEAST_REGISTRY" in said
    assert "pw-5e4d3c" not in said


def test_a_wrong_postgres_password_names_the_variable_not_the_value(tmp_path):
    with postgres_server(("feast",)) as postgres:
        wrong = postgres.url("feast").replace(postgres.password, "not-the-password")
        with pytest.raises(ServiceUnavailable) as error:
            FeastStores(registry=wrong).open(tmp_path / "repo")
    said = str(error.value)
    assert "password authentication failed" in said and "SLUICE_FEAST_REGISTRY" in said
    assert "not-the-password" not in said and postgres.password not in said


def test_redis_down_fails_featurize_naming_the_online_store(slice_training_frame, tmp_path):
    connection = f"127.0.0.1:{free_port()},password=rd-9f8e7d"
    stores = FeastStores(online_store="redis", redis_connection=connection)
    with pytest.raises(ServiceUnavailable) as error:
        featurize(
            _validated(slice_training_frame), tmp_path / "repo", tmp_path / "f.parquet", stores
        )
    said = str(error.value)
    assert said.startswith("Redis online store at 127.0.0.1:") and "password=***" in said
    assert "SLUICE_REDIS_CONNECTION" in said and "rd-9f8e7d" not in said
    assert not (tmp_path / "f.parquet").exists()  # no training frame from a failed step


def test_a_wrong_redis_password_names_the_variable_not_the_value(slice_training_frame, tmp_path):
    with redis_server(password="right-6a5b4c") as connection:
        wrong = connection.replace("right-6a5b4c", "wrong-1a2b3c")
        stores = FeastStores(online_store="redis", redis_connection=wrong)
        with pytest.raises(ServiceUnavailable) as error:
            featurize(
                _validated(slice_training_frame), tmp_path / "repo", tmp_path / "f.parquet", stores
            )
    said = str(error.value)
    assert "SLUICE_REDIS_CONNECTION" in said and "wrong-1a2b3c" not in said


def test_s3_down_fails_ingest_naming_the_object_store(week_source, tmp_path, s3_keys):
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailable) as error:
        ingest(str(week_source), Location("s3://sluice/snapshots", endpoint), tmp_path / "out")
    said = str(error.value)
    assert said.startswith(f"object store at {endpoint}: s3://sluice/snapshots")
    assert "AWS_ACCESS_KEY_ID" in said and S3_KEYS["AWS_SECRET_ACCESS_KEY"] not in said


def test_a_snapshot_is_reused_from_the_bucket_only_once_complete(week_source, tmp_path, s3_keys):
    with s3_server() as endpoint:
        store = Location("s3://sluice/snapshots", endpoint)
        first = ingest(str(week_source), store, tmp_path / "first")
        again = ingest(str(week_source), store, tmp_path / "again")
        assert (first.reused, again.reused) == (False, True)
        assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(
            p.name for p in (tmp_path / "first").iterdir()
        )
        # A snapshot whose upload died before its manifest is not one: it is written again.
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.delete_object(Bucket="sluice", Key=f"snapshots/{first.version}/manifest.json")
        rewritten = ingest(str(week_source), store, tmp_path / "rewritten")
        assert rewritten.reused is False
        assert store.child(first.version).exists("manifest.json")


def test_no_feature_view_is_registered_without_its_data(slice_training_frame, tmp_path, s3_keys):
    """The views' Parquet goes to S3 before `feast apply`: with S3 down, the SQL registry
    on a live PostgreSQL is left without a view."""
    with postgres_server(("feast",)) as postgres:
        stores = FeastStores(
            registry=postgres.url("feast"),
            data=Location("s3://sluice/features", f"http://127.0.0.1:{free_port()}"),
        )
        with pytest.raises(ServiceUnavailable, match="object store"):
            featurize(
                _validated(slice_training_frame), tmp_path / "repo", tmp_path / "f.parquet", stores
            )
        registry = FeastStores(registry=postgres.url("feast")).open(tmp_path / "reader")
        assert registry.list_feature_views() == []


class Load:
    """Callers posting FLIGHTS in a loop from threads; every answer is kept: when it came,
    how long it took, its status and its body."""

    def __init__(self, http: str, callers: int = 3):
        self.url = f"{http}/v1/models/{MODEL_NAME}:predict"
        self.answers: list[tuple[float, float, int, dict]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._call) for _ in range(callers)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _call(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.post(self.url, json={"instances": FLIGHTS})
                    status, body = response.status_code, response.json()
                except (httpx.HTTPError, ValueError) as exc:
                    status, body = 0, {"error": repr(exc)}
                self.answers.append((time.monotonic(), time.monotonic() - started, status, body))

    def since(self, moment: float) -> list[tuple[float, float, int, dict]]:
        return [a for a in list(self.answers) if a[0] >= moment]


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.1)


def _ready(http: str) -> bool:
    return httpx.get(f"{http}/v2/health/ready", timeout=5).status_code == 200


def _grpc_ready(address: str) -> bool:
    async def ask() -> bool:
        async with InferenceGRPCClient(address) as client:
            return await client.is_server_ready()

    return asyncio.run(ask())


def _an_answer_since(load: Load, moment: float, status: int) -> Callable[[], bool]:
    return lambda: any(a[2] == status for a in load.since(moment))


def _same(predictions: list[float], baseline: list[float]) -> bool:
    return bool(np.allclose(predictions, baseline, atol=1e-6))


def _outage(load: Load, server: Server, started: float, reason: str, before: Counter) -> None:
    """From `started` on: not ready (REST and gRPC); 503s that say why, promptly; the
    failures counted."""
    http = server.http
    _wait_until(lambda: not _ready(http), "the server turns not ready")
    assert not _grpc_ready(server.grpc)
    _wait_until(_an_answer_since(load, time.monotonic(), 503), "503s while not ready")
    refused = [a for a in load.since(started) if a[2] == 503]
    assert all(a[3]["error"].startswith("online store unavailable") for a in refused), refused[:3]
    assert max(a[1] for a in refused) < 3, "a 503 should not keep the caller waiting"
    counted = metric_samples(http)
    counted.subtract(before)
    assert counted[("sluice_online_store_errors_total", (("reason", reason),))] > 0
    assert counted[("sluice_online_store_errors_total", (("reason", "down"),))] > 0
    assert metric_samples(http)[("sluice_online_store_down", ())] == 1


def _recovery(load: Load, server: Server, baseline: list[float]) -> None:
    back, http = time.monotonic(), server.http
    _wait_until(lambda: _ready(http), "the server is ready again")
    assert _grpc_ready(server.grpc)
    _wait_until(_an_answer_since(load, back, 200), "answers resume")
    assert all(_same(a[3]["predictions"], baseline) for a in load.since(back) if a[2] == 200)
    assert metric_samples(http)[("sluice_online_store_down", ())] == 0


def test_the_transformer_survives_redis_hanging_and_going_down(
    slice_training_frame, model_dir, tmp_path
):
    """Under load, Redis hangs (SIGSTOP) and resumes, then stops and starts again with its
    data: meanwhile 503 "online store unavailable", never a 200 made of defaults nor a 500;
    not ready; the failures counted. Then ready again, with the same answers as before."""
    port, data, repo = free_port(), tmp_path / "redis", tmp_path / "repo"
    data.mkdir()
    with ExitStack() as serving:
        with redis_server(port=port, data_dir=data) as connection:
            stores = FeastStores(online_store="redis", redis_connection=connection)
            featurize(_validated(slice_training_frame), repo, tmp_path / "f.parquet", stores)
            client = redis.Redis(port=port)
            client.save()  # what the restart below loads
            env = {"SLUICE_ONLINE_STORE": "redis", "SLUICE_REDIS_CONNECTION": connection}
            server = serving.enter_context(
                model_server(
                    *("--mode", "combined", "--model_uri", str(model_dir)),
                    *("--feature_repo", str(repo), "--online_timeout_ms", "200"),
                    *("--feature_cache_ttl_s", "0"),  # every request reads the store
                    env={**os.environ, **env},
                )
            )
            load = serving.enter_context(Load(server.http))
            _wait_until(lambda: len(load.answers) >= 20, "answers under load")
            assert {a[2] for a in load.answers} == {200}, load.answers[:3]
            baseline = load.answers[-1][3]["predictions"]
            before = metric_samples(server.http)
            # The unknown tailnum still gets the documented defaults, and they are counted.
            assert before[("sluice_feature_defaults_total", (("feature", "plane_year"),))] > 0

            pid = client.info()["process_id"]
            os.kill(pid, signal.SIGSTOP)  # hung: connections open, no answers
            try:
                _outage(load, server, time.monotonic(), "timeout", before)
            finally:
                os.kill(pid, signal.SIGCONT)
            _recovery(load, server, baseline)
            before = metric_samples(server.http)
        # Redis stopped
        _outage(load, server, time.monotonic(), "error", before)
        with redis_server(port=port, data_dir=data):
            _recovery(load, server, baseline)
        assert server.alive
        assert {a[2] for a in load.answers} == {200, 503}, "only answers and 503s"
        assert all(_same(a[3]["predictions"], baseline) for a in load.answers if a[2] == 200)
