"""The Feast transformer against real online stores: SQLite, and Redis (redis-server)."""

import asyncio
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore
from kserve import InferenceGRPCClient
from kserve.protocol.infer_type import InferInput, InferRequest

from components.featurize import run as featurize
from serving.artifact import ModelArtifact
from serving.process import model_server
from serving.transformer import request_features
from tests.integration.redis_fixture import redis_server

pytestmark = pytest.mark.integration
NAME = "sluice-flights"
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


@pytest.fixture(scope="module")
def sqlite_repo(slice_training_frame) -> Path:
    return slice_training_frame.parent / "repo"


def _expected(model_dir, repo: Path) -> np.ndarray:
    """Independently: online features straight from Feast, scored by the artifact."""
    store = FeatureStore(repo_path=str(repo))
    service = store.get_feature_service("flight_delay_v1")
    flights = pd.DataFrame(FLIGHTS)
    online = store.get_online_features(
        features=service, entity_rows=flights[["origin", "tailnum", "carrier"]].to_dict("records")
    ).to_dict()
    frame = request_features(flights)
    for projection in service.feature_view_projections:
        for feature in projection.features:
            frame[feature.name] = pd.array(online[feature.name], dtype="Float64").astype(float)
    return ModelArtifact(model_dir).predict_frame(frame)[0]


@pytest.fixture(scope="module")
def combined(model_dir, sqlite_repo):
    with model_server(
        "--mode", "combined", "--model_uri", str(model_dir), "--feature_repo", str(sqlite_repo)
    ) as server:
        yield server


def _v1_predictions(http: str) -> list[float]:
    """The sample flights through a server's v1 endpoint, which must answer 200."""
    response = httpx.post(f"{http}/v1/models/{NAME}:predict", json={"instances": FLIGHTS})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def test_combined_v1_uses_online_features_and_counts_defaults(combined, model_dir, sqlite_repo):
    predictions = _v1_predictions(combined.http)
    np.testing.assert_allclose(predictions, _expected(model_dir, sqlite_repo), atol=1e-6)
    metrics = httpx.get(f"{combined.http}/metrics").text
    assert 'sluice_feature_defaults_total{feature="plane_year"} 1.0' in metrics  # unknown tailnum
    assert "sluice_online_feature_fetch_seconds_count" in metrics


def _grpc_predictions(address: str) -> np.ndarray:
    """The sample flights through a server's OIP v2 gRPC endpoint."""
    frame = pd.DataFrame(FLIGHTS)
    inputs = [
        InferInput(c, [2], "BYTES", frame[c].tolist())
        for c in ["carrier", "origin", "dest", "tailnum", "sched_dep_time"]
    ]
    distance = InferInput("distance", [2], "FP32")
    distance.set_data_from_numpy(frame["distance"].to_numpy(np.float32), binary_data=False)

    async def call():
        async with InferenceGRPCClient(address) as client:
            return await client.infer(InferRequest(NAME, [*inputs, distance]))

    return asyncio.run(call()).outputs[0].as_numpy()


def test_combined_v2_grpc(combined, model_dir, sqlite_repo):
    np.testing.assert_allclose(
        _grpc_predictions(combined.grpc), _expected(model_dir, sqlite_repo), atol=1e-6
    )


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"tailnum": None}, "tailnum"),
        ({"sched_dep_time": "tomorrow"}, "sched_dep_time"),
        ({"distance": "far"}, "distance"),
        ({"gate": "B12"}, "gate"),
    ],
)
def test_transformer_refuses_bad_flights_with_400(combined, change, names):
    flight = {**FLIGHTS[0], **change}
    response = httpx.post(f"{combined.http}/v1/models/{NAME}:predict", json={"instances": [flight]})
    assert response.status_code == 400 and names in response.json()["error"]


@pytest.mark.parametrize("protocol", ["v1", "grpc-v2"])
def test_transformer_as_its_own_process_forwards_to_the_predictor(model_dir, sqlite_repo, protocol):
    with model_server("--model_uri", str(model_dir)) as predictor:
        host = predictor.grpc if protocol == "grpc-v2" else predictor.http.removeprefix("http://")
        with model_server(
            "--mode",
            "transformer",
            "--feature_repo",
            str(sqlite_repo),
            "--predictor_host",
            host,
            "--predictor_protocol",
            protocol,
        ) as transformer:
            if protocol == "grpc-v2":  # over gRPC both ways, as on a cluster
                predictions = _grpc_predictions(transformer.grpc)
            else:
                predictions = _v1_predictions(transformer.http)
    np.testing.assert_allclose(predictions, _expected(model_dir, sqlite_repo), atol=1e-6)


def test_transformer_with_a_redis_online_store(
    slice_training_frame,
    model_dir,
    sqlite_repo,
    tmp_path,
):
    with redis_server() as connection:
        repo = tmp_path / "redis_repo"
        featurize(
            slice_training_frame.parent / "validated",
            repo,
            tmp_path / "frame.parquet",
            online_store="redis",
            redis_connection=connection,
        )
        assert "type: redis" in (repo / "feature_store.yaml").read_text()
        with model_server(
            "--mode", "combined", "--model_uri", str(model_dir), "--feature_repo", str(repo)
        ) as server:
            predictions = _v1_predictions(server.http)
    # The same features from Redis as from SQLite, so the same predictions.
    np.testing.assert_allclose(predictions, _expected(model_dir, sqlite_repo), atol=1e-6)
