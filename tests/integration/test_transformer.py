"""The Feast transformer against real online stores: SQLite, and Redis (redis-server)."""

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore
from kserve import InferenceGRPCClient
from kserve.protocol.infer_type import InferInput, InferRequest
from prometheus_client import REGISTRY

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import FEATURE_SERVICE, MODEL_NAME
from components.featurize import run as featurize
from components.flights.feature_repo.store import FeastStores
from components.flights.features import as_of, epoch_seconds, with_elapsed
from components.flights.request import ENTITY_KEYS, request_features, scheduled_departures
from serving.process import model_server
from serving.transformer import FeastTransformer
from tests.integration.helpers import FLIGHTS, caller_requests, metric_samples
from tests.services import redis_server

pytestmark = pytest.mark.integration
NAME = MODEL_NAME


@pytest.fixture(scope="module")
def sqlite_repo(slice_training_frame) -> Path:
    return slice_training_frame.parent / "repo"


# The request-time features of FLIGHTS, worked out by hand (2013-01-31 was a Thursday).
REQUEST_TIME = [
    {"hour": 8, "day_of_week": 3, "month": 1, "distance": 1400.0},
    {"hour": 18, "day_of_week": 3, "month": 1, "distance": 187.0},
]


def _expected(model_dir, repo: Path) -> np.ndarray:
    """Independently of the transformer: the request-time features by hand, the online
    features straight from Feast, scored by the artifact."""
    store = FeatureStore(repo_path=str(repo))
    service = store.get_feature_service(FEATURE_SERVICE)
    flights = pd.DataFrame(FLIGHTS)
    online = store.get_online_features(
        features=service, entity_rows=flights[list(ENTITY_KEYS)].to_dict("records")
    ).to_dict()
    frame = pd.concat([flights[["carrier", "origin", "dest"]], pd.DataFrame(REQUEST_TIME)], axis=1)
    for projection in service.feature_view_projections:
        for feature in projection.features:
            frame[feature.name] = pd.array(online[feature.name], dtype="Float64").astype(float)
    # The aircraft's latest departure, as minutes before the quarter hour of the scheduled
    # time, within 12 hours.
    scheduled = scheduled_departures(flights["sched_dep_time"]).dt.floor("15min")
    scheduled = scheduled.map(lambda t: t.timestamp())
    minutes = (scheduled - frame.pop("aircraft_departed_at")) / 60
    within = (minutes >= 0) & (minutes <= 12 * 60)
    frame["aircraft_minutes_since_departure"] = minutes.where(within)
    frame["aircraft_prev_dep_delay"] = frame["aircraft_prev_dep_delay"].where(within)
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
    before = metric_samples(combined.http)
    predictions = _v1_predictions(combined.http)
    np.testing.assert_allclose(predictions, _expected(model_dir, sqlite_repo), atol=1e-6)
    change = metric_samples(combined.http)
    change.subtract(before)
    defaults = "sluice_feature_defaults_total"
    assert change[(defaults, (("feature", "plane_year"),))] == 1  # the unknown tailnum
    assert change[(defaults, (("feature", "temp"),))] == 0  # both origins have weather
    assert change[("sluice_online_feature_fetch_seconds_count", ())] == 1  # one fetch


def _grpc_response(address: str):
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

    return asyncio.run(call())


def test_combined_v2_grpc(combined, model_dir, sqlite_repo):
    np.testing.assert_allclose(
        _grpc_response(combined.grpc).outputs[0].as_numpy(),
        _expected(model_dir, sqlite_repo),
        atol=1e-6,
    )


BAD_FLIGHTS = [
    ({"tailnum": None}, "tailnum"),
    ({"sched_dep_time": "tomorrow"}, "sched_dep_time"),
    ({"sched_dep_time": "2013-11-03T01:30:00"}, "daylight saving"),  # 01:30 came twice
    ({"distance": "far"}, "distance"),
    ({"gate": "B12"}, "gate"),
    ({"distance": 99999}, "distance"),  # refused by the predictor's range check
]


@pytest.mark.parametrize(("change", "names"), BAD_FLIGHTS)
def test_transformer_refuses_bad_flights_with_400(combined, change, names):
    flight = {**FLIGHTS[0], **change}
    response = httpx.post(f"{combined.http}/v1/models/{NAME}:predict", json={"instances": [flight]})
    assert response.status_code == 400 and names in response.json()["error"], response.text


def _v2_rest_inputs() -> list[dict]:
    """The sample flights as v2 REST inputs, one per request field."""
    inputs = [
        {"name": c, "datatype": "BYTES", "shape": [2], "data": [f[c] for f in FLIGHTS]}
        for c in ["carrier", "origin", "dest", "tailnum", "sched_dep_time"]
    ]
    distances = [f["distance"] for f in FLIGHTS]
    return [*inputs, {"name": "distance", "datatype": "FP32", "shape": [2], "data": distances}]


def _v2_rest_answer(http: str) -> tuple[list[float], str]:
    """The sample flights through a server's OIP v2 REST endpoint: probabilities, version."""
    response = httpx.post(f"{http}/v2/models/{NAME}/infer", json={"inputs": _v2_rest_inputs()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [o["name"] for o in body["outputs"]] == ["probability", "delayed"]
    return body["outputs"][0]["data"], body["model_version"]


def _answer(server, incoming: str) -> tuple[list[float], str]:
    """Probabilities and the model version, from a server called over `incoming`."""
    if incoming == "v1":
        response = httpx.post(
            f"{server.http}/v1/models/{NAME}:predict", json={"instances": FLIGHTS}
        )
        assert response.status_code == 200, response.text
        return response.json()["predictions"], response.json()["model_version"]
    if incoming == "v2":
        return _v2_rest_answer(server.http)
    response = _grpc_response(server.grpc)
    return response.outputs[0].as_numpy().tolist(), response.model_version


@pytest.fixture(scope="module", params=["v1", "v2", "grpc-v2"])
def split(request, server, sqlite_repo):
    """The transformer as its own process, as on a cluster, calling the registered model's
    predictor over one protocol, one call at a time."""
    protocol = request.param
    host = server.grpc if protocol == "grpc-v2" else server.http.removeprefix("http://")
    with model_server(
        "--mode",
        "transformer",
        "--feature_repo",
        str(sqlite_repo),
        "--predictor_host",
        host,
        "--predictor_protocol",
        protocol,
        "--predictor_calls_in_flight",
        "1",  # one call out: the requests behind it merge, however fast the machine
    ) as transformer:
        yield transformer


@pytest.mark.parametrize("incoming", ["v1", "v2", "grpc"])
def test_every_caller_protocol_through_every_predictor_protocol(
    split, incoming, registered, model_dir, sqlite_repo
):
    predictions, version = _answer(split, incoming)
    np.testing.assert_allclose(predictions, _expected(model_dir, sqlite_repo), atol=1e-6)
    assert version == registered["version"]  # the predictor's, relayed


def test_a_split_transformer_names_the_version_it_relays(split, registered):
    _answer(split, "v1")
    metadata = httpx.get(f"{split.http}/v2/models/{NAME}").json()
    assert metadata["versions"] == [registered["version"]]
    versioned = httpx.get(f"{split.http}/v2/models/{NAME}/versions/{registered['version']}")
    assert versioned.status_code == 200


V2_BAD = [
    ("empty batch", lambda inputs: [{**i, "shape": [0], "data": []} for i in inputs], "empty"),
    ("repeated input", lambda inputs: [*inputs, inputs[0]], "more than once"),
    (
        "over the row limit",
        lambda inputs: [{**i, "shape": [150], "data": i["data"][:1] * 150} for i in inputs],
        "limit of 100",
    ),
]


@pytest.mark.parametrize(("change", "names"), [c[1:] for c in V2_BAD], ids=[c[0] for c in V2_BAD])
def test_split_transformer_client_errors_are_400s(split, change, names):
    """Its own refusals, and the predictor's relayed as the caller's (here, its row limit:
    the predictor refuses over 100 rows, the transformer allows 10,000)."""
    response = httpx.post(
        f"{split.http}/v2/models/{NAME}/infer", json={"inputs": change(_v2_rest_inputs())}
    )
    assert response.status_code == 400 and names in response.json()["error"], response.text
    far = httpx.post(
        f"{split.http}/v1/models/{NAME}:predict",
        json={"instances": [{**FLIGHTS[0], "distance": 99999}]},
    )
    assert far.status_code == 400 and "distance" in far.json()["error"], far.text


def _predictor_calls(server) -> float:
    """Inference requests the predictor server has answered, whatever their outcome."""
    samples = metric_samples(server.http)
    return sum(v for (name, _), v in samples.items() if name == "sluice_requests_total")


def test_concurrent_callers_share_the_split_transformers_predictor_calls(
    split, server, slice_training_frame
):
    """Callers at once: the transformer's calls to the predictor merge (fewer reach it than
    were sent), each caller gets the answer it gets alone, and a request the predictor
    refuses, merged with others, is refused alone."""
    validated = slice_training_frame.parent / "validated"
    flights = [_random_requests(validated, 1, seed=s)[0] for s in range(64)]
    far = [{**flight, "distance": [99999]} for flight in flights[:1]]  # past the predictor's range

    def post(client, flight):
        rows = zip(*flight.values(), strict=True)
        instances = [dict(zip(flight, row, strict=True)) for row in rows]
        return client.post(f"{split.http}/v1/models/{NAME}:predict", json={"instances": instances})

    with httpx.Client() as client:
        alone = [post(client, flight) for flight in flights]  # one at a time: each alone

    async def at_once(sent) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(sent))
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            return await asyncio.gather(*(post(client, flight) for flight in sent))

    before = _predictor_calls(server)
    together = asyncio.run(at_once(flights))
    reached = _predictor_calls(server) - before
    for one, other in zip(alone, together, strict=True):
        assert one.status_code == other.status_code == 200, other.text
        np.testing.assert_allclose(
            other.json()["predictions"], one.json()["predictions"], atol=1e-6
        )
    assert reached < len(flights), f"{reached} predictor calls for {len(flights)} requests"
    mixed = asyncio.run(at_once(flights[:16] + far + flights[16:32]))
    refused = mixed.pop(16)
    assert refused.status_code == 400 and "distance" in refused.json()["error"], refused.text
    np.testing.assert_allclose(
        [r.json()["predictions"] for r in mixed],
        [r.json()["predictions"] for r in alone[:32]],
        atol=1e-6,
    )


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
            stores=FeastStores(online_store="redis", redis_connection=connection),
        )
        written = (repo / "feature_store.yaml").read_text()
        assert "type: redis" in written and connection not in written  # named, not written
        env = {**os.environ, "SLUICE_ONLINE_STORE": "redis", "SLUICE_REDIS_CONNECTION": connection}
        with model_server(
            "--mode",
            "combined",
            "--model_uri",
            str(model_dir),
            "--feature_repo",
            str(repo),
            env=env,
        ) as server:
            predictions = _v1_predictions(server.http)
    # The same features from Redis as from SQLite, so the same predictions.
    np.testing.assert_allclose(predictions, _expected(model_dir, sqlite_repo), atol=1e-6)


def _random_requests(validated: Path, count: int, seed: int = 16) -> list[dict[str, list]]:
    """`count` flights of the slice, drawn at random, about one in eight with an unknown
    tail number and one in twenty with an unknown carrier, sent as requests of 1 to 40."""
    rng = np.random.default_rng(seed)
    flights = pd.read_parquet(validated / "flights.parquet")
    drawn = flights.iloc[rng.integers(0, len(flights), count)].reset_index(drop=True)
    unknown_tail = rng.random(count) < 1 / 8
    drawn.loc[unknown_tail, "tailnum"] = [f"N{i:05d}Q" for i in range(unknown_tail.sum())]
    drawn.loc[rng.random(count) < 1 / 20, "carrier"] = "ZZ"
    sent, start = [], 0
    while start < count:
        size = int(rng.integers(1, 41))
        sent.append(caller_requests(drawn.iloc[start : start + size]))
        start += size
    return sent


def _from_feast(store: FeatureStore, requests: dict[str, list], features: list[str]):
    """The model input built straight from Feast's `get_online_features`: the request-time
    features from their one definition, missing online values as NaN."""
    rows = [
        dict(zip(ENTITY_KEYS, keys, strict=True))
        for keys in zip(*map(requests.get, ENTITY_KEYS), strict=True)
    ]
    online = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE), entity_rows=rows
    ).to_dict()
    frame = pd.DataFrame(
        request_features(
            carrier=requests["carrier"],
            origin=requests["origin"],
            dest=requests["dest"],
            scheduled=scheduled_departures(requests["sched_dep_time"]),  # training's form
            distance=requests["distance"],
        )
    )
    read_at = as_of(scheduled_departures(requests["sched_dep_time"]), timedelta(0))
    online = with_elapsed(online, epoch_seconds(read_at))  # unit-tested on its own
    for name in features[len(frame.columns) :]:
        frame[name] = [np.nan if v is None else float(v) for v in online[name]]
    return frame[features]


def parity_mismatches(served: pd.DataFrame, reference: pd.DataFrame) -> list[str]:
    """Every (row, feature) where the transformer's input differs from Feast's (NaN equals
    NaN), and any difference in the features themselves."""
    if list(served.columns) != list(reference.columns):
        return [f"features {list(served.columns)} != {list(reference.columns)}"]
    found = []
    for name in reference.columns:
        a, b = served[name].tolist(), reference[name].tolist()
        differs = [
            row
            for row, (x, y) in enumerate(zip(a, b, strict=True))
            if not (x == y or (pd.isna(x) and pd.isna(y)))
        ]
        found += [f"row {r}: {name} {a[r]!r} != {b[r]!r}" for r in differs]
    return found


def _reads() -> float:
    return REGISTRY.get_sample_value("sluice_online_feature_fetch_seconds_count") or 0


def _defaults_counted() -> dict[str, float]:
    return {
        name: REGISTRY.get_sample_value("sluice_feature_defaults_total", {"feature": name}) or 0
        for name in ("plane_year", "carrier_delay_rate_7d", "temp")
    }


def test_parity_with_feast_over_1000_random_flights(slice_training_frame, sqlite_repo):
    """What the transformer builds for 1,000 random flights, unknown tail numbers and
    carriers among them, sent as concurrent requests (batched into shared reads), equals the
    input built from `get_online_features`, feature by feature; each missing value is
    counted as a default."""
    transformer = FeastTransformer(MODEL_NAME, sqlite_repo, FeastStores(), FEATURE_SERVICE)
    transformer.load()
    store = FeatureStore(repo_path=str(sqlite_repo))
    requests = _random_requests(slice_training_frame.parent / "validated", 1000)
    before, reads = _defaults_counted(), _reads()

    async def concurrently() -> list[dict[str, list]]:
        return await asyncio.gather(*(transformer.model_input(r) for r in requests))

    answers = asyncio.run(concurrently())
    served = pd.DataFrame({f: [v for a in answers for v in a[f]] for f in transformer.features})
    assert _reads() - reads < len(requests) / 4, "waiting requests share a read"
    reference = pd.concat(
        [_from_feast(store, r, transformer.features) for r in requests], ignore_index=True
    )
    assert len(served) == 1000
    mismatches = parity_mismatches(served, reference)
    assert not mismatches, f"{len(mismatches)} differences, e.g.\n" + "\n".join(mismatches[:10])
    counted = {k: v - before[k] for k, v in _defaults_counted().items()}
    assert counted == {k: reference[k].isna().sum() for k in counted}
    assert counted["plane_year"] >= 100 and counted["carrier_delay_rate_7d"] >= 30


def test_the_parity_check_names_a_difference():
    reference = pd.DataFrame({"carrier": ["UA", "B6"], "temp": [30.0, np.nan]})
    assert parity_mismatches(reference.copy(), reference) == []
    served = reference.assign(temp=[30.0, 31.0])
    assert parity_mismatches(served, reference) == ["row 1: temp 31.0 != nan"]


def _cache_hits() -> float:
    return REGISTRY.get_sample_value("sluice_feature_cache_total", {"outcome": "hit"}) or 0


def test_after_a_materialisation_no_answer_uses_the_cached_values(slice_training_frame, tmp_path):
    """Values are served from the cache until a materialisation lands; from then on, the
    newly materialised ones (the registry is checked on every read here)."""
    validated = slice_training_frame.parent / "validated"
    repo = tmp_path / "repo"
    featurize(validated, repo, tmp_path / "frame.parquet", materialize=False)
    store = FeatureStore(repo_path=str(repo))
    since = datetime(2012, 12, 1, tzinfo=UTC)
    store.materialize(start_date=since, end_date=datetime(2013, 1, 14, 13, tzinfo=UTC))
    transformer = FeastTransformer(  # every read waits for the registry, however loaded CI is
        MODEL_NAME, repo, FeastStores(), FEATURE_SERVICE, registry_check_s=0, registry_timeout_s=60
    )
    transformer.load()
    requests = _random_requests(validated, 200, seed=7)

    def served() -> pd.DataFrame:
        return pd.concat(
            [pd.DataFrame(asyncio.run(transformer.model_input(r))) for r in requests],
            ignore_index=True,
        )

    def from_feast() -> pd.DataFrame:
        return pd.concat(
            [_from_feast(store, r, transformer.features) for r in requests], ignore_index=True
        )

    before = from_feast()
    assert not parity_mismatches(served(), before)
    hits = _cache_hits()
    assert not parity_mismatches(served(), before)
    assert _cache_hits() > hits  # the second time, from the cache

    store.materialize(start_date=since, end_date=datetime(2013, 1, 28, 13, tzinfo=UTC))
    after = from_feast()
    assert len(parity_mismatches(after, before)) > 100  # new weather, congestion, rates
    mismatches = parity_mismatches(served(), after)
    assert not mismatches, f"{len(mismatches)} stale values, e.g.\n" + "\n".join(mismatches[:10])
