"""The model server as a real process on loopback, driven by KServe's own clients."""

import asyncio
import json
import os
from pathlib import Path

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from kserve import InferenceGRPCClient, InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME
from serving.process import model_server
from tests.delivery.chart import SCHEMAS
from tests.integration.helpers import metric_samples, v2_inputs

pytestmark = pytest.mark.integration
NAME = MODEL_NAME


def _records(rows: pd.DataFrame) -> list[dict]:
    return rows.astype(object).where(rows.notna(), None).to_dict("records")


def _expected(model_dir, rows) -> np.ndarray:
    return ModelArtifact(model_dir).predict_frame(rows)[0]


def test_health_and_metadata(server):
    assert httpx.get(f"{server.http}/v2/health/live").status_code == 200
    assert httpx.get(f"{server.http}/v2/models/{NAME}/ready").status_code == 200
    metadata = httpx.get(f"{server.http}/v2/models/{NAME}").json()
    assert [o["name"] for o in metadata["outputs"]] == ["probability", "delayed"]
    assert {"carrier", "temp"} <= {i["name"] for i in metadata["inputs"]}


def test_versioned_routes_answer_for_the_served_version_only(server, registered, model_dir, rows):
    body = InferRequest(NAME, v2_inputs(rows.head(2), ModelArtifact(model_dir).layout))
    version, other_version = registered["version"], str(int(registered["version"]) + 1)
    served, other = (
        f"{server.http}/v2/models/{NAME}/versions/{version}",
        f"{server.http}/v2/models/{NAME}/versions/{other_version}",
    )
    assert httpx.get(served).json()["name"] == NAME
    assert httpx.get(f"{served}/ready").json()["ready"] is True
    answer = httpx.post(f"{served}/infer", json=body.to_rest()[0])
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(
        answer.json()["outputs"][0]["data"], _expected(model_dir, rows.head(2)), atol=1e-6
    )
    for response in (
        httpx.get(other),
        httpx.get(f"{other}/ready"),
        httpx.post(f"{other}/infer", json=body.to_rest()[0]),
    ):
        assert response.status_code == 404, response.text
        assert f"version {other_version}" in response.json()["error"]


def test_a_copy_of_the_registered_version_reports_it_without_a_registry(
    registered, model_dir, rows, tmp_path
):
    """As KServe's storage initializer copies a version into /mnt/models: a plain
    directory, served with no tracking server to ask."""
    import mlflow

    from components.base.registry import tracking

    with tracking(registered["env"]["MLFLOW_TRACKING_URI"]):
        copy = mlflow.artifacts.download_artifacts(
            artifact_uri=registered["model_uri"], dst_path=str(tmp_path / "mnt-models")
        )
    assert ModelArtifact(copy).version == registered["version"]
    assert ModelArtifact(model_dir).version == "unregistered"  # what training exported
    env = {**registered["env"], "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # no registry
    with model_server("--model_uri", copy, env=env) as plain:
        answer = httpx.post(
            f"{plain.http}/v1/models/{NAME}:predict", json={"instances": _records(rows.head(2))}
        ).json()
        metrics = metric_samples(plain.http)
    assert answer["model_version"] == registered["version"]
    assert metrics[("sluice_predictions_total", (("model_version", registered["version"]),))] == 2


def test_v1_rest_v2_rest_and_v2_grpc_agree_with_the_model(server, registered, model_dir, rows):
    layout = ModelArtifact(model_dir).layout
    expected = _expected(model_dir, rows)

    async def call():
        async with InferenceRESTClient(RESTConfig(protocol="v1")) as v1:
            first = await v1.infer(server.http, {"instances": _records(rows)}, model_name=NAME)
        async with InferenceRESTClient(RESTConfig(protocol="v2")) as v2:
            second = await v2.infer(
                server.http, InferRequest(NAME, v2_inputs(rows, layout)), model_name=NAME
            )
        async with InferenceGRPCClient(server.grpc) as client:
            third = await client.infer(InferRequest(NAME, v2_inputs(rows, layout)))
        return first, second, third

    v1, v2, grpc_response = asyncio.run(call())
    assert v1["model_version"] == registered["version"]
    np.testing.assert_allclose(v1["predictions"], expected, atol=1e-6)
    np.testing.assert_allclose(v2.outputs[0].as_numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(grpc_response.outputs[0].as_numpy(), expected, atol=1e-6)
    assert grpc_response.model_version == registered["version"]
    # KServe's REST client drops model_version when it parses a response: read the JSON.
    raw = httpx.post(
        f"{server.http}/v2/models/{NAME}/infer",
        json=InferRequest(NAME, v2_inputs(rows.head(2), layout)).to_rest()[0],
    ).json()
    assert raw["model_version"] == registered["version"]
    assert [o["name"] for o in raw["outputs"]] == ["probability", "delayed"]
    threshold = float(raw["parameters"]["threshold"])
    assert raw["outputs"][1]["data"] == (expected[:2] >= threshold).tolist()


def test_a_v2_rest_answer_is_an_inference_response_of_the_upstream_schema(server, model_dir, rows):
    """Held to KServe's OIP v2 REST schema (../shared/schemas), which has no `null` where
    it names an object: the answer is rendered from the response's own dict."""
    import jsonschema

    path = SCHEMAS / "kserve" / "rest_predict_v2.yaml"
    if not path.is_file():
        pytest.skip(f"{path} is absent: the upstream protocol schemas live in ../shared/schemas")
    document = yaml.safe_load(path.read_text())
    schema = {**document["components"]["schemas"]["inference_response"], **document}
    layout = ModelArtifact(model_dir).layout
    complete = rows.dropna().head(3)  # a JSON body has no NaN
    body = InferRequest(NAME, v2_inputs(complete, layout)).to_rest()[0]
    answer = httpx.post(f"{server.http}/v2/models/{NAME}/infer", json=body)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    jsonschema.validate(answer.json(), schema)
    assert answer.json()["outputs"][0]["shape"] == [len(complete)] == [3]


def test_a_request_gets_the_outputs_it_names(server, model_dir, rows):
    layout = ModelArtifact(model_dir).layout
    wanted = [RequestedOutput("delayed")]

    async def call():
        async with InferenceGRPCClient(server.grpc) as client:
            return await client.infer(
                InferRequest(NAME, v2_inputs(rows, layout), request_outputs=wanted)
            )

    response = asyncio.run(call())
    assert [o.name for o in response.outputs] == ["delayed"]
    threshold = float(response.parameters["threshold"].string_param)
    np.testing.assert_array_equal(
        response.outputs[0].as_numpy(), _expected(model_dir, rows) >= threshold
    )
    body = InferRequest(NAME, v2_inputs(rows.head(1), layout)).to_rest()[0]
    body["outputs"] = [{"name": "logits"}]
    refused = httpx.post(f"{server.http}/v2/models/{NAME}/infer", json=body)
    assert refused.status_code == 400 and "logits" in refused.json()["error"]


def test_grpc_values_as_raw_bytes_answer_alike_and_unknown_models_are_not_found(
    server, model_dir, rows
):
    raw_inputs = v2_inputs(rows, ModelArtifact(model_dir).layout, binary_data=True)

    async def call():
        async with InferenceGRPCClient(server.grpc, retries=0) as client:
            answer = await client.infer(InferRequest(NAME, raw_inputs))
            try:
                await client.infer(InferRequest("no-such-model", raw_inputs))
            except grpc.aio.AioRpcError as error:
                return answer, error.code()

    response, missing = asyncio.run(call())
    np.testing.assert_allclose(
        response.outputs[0].as_numpy(), _expected(model_dir, rows), atol=1e-6
    )
    assert missing == grpc.StatusCode.NOT_FOUND


def test_rest_binary_extension_bodies_answer_alike(server, model_dir, rows):
    """KServe's binary data extension: the JSON header, then the values as raw bytes."""
    inputs = v2_inputs(rows, ModelArtifact(model_dir).layout, binary_data=True)
    body, json_length = InferRequest(NAME, inputs).to_rest()
    response = httpx.post(
        f"{server.http}/v2/models/{NAME}/infer",
        content=body,
        headers={
            "content-type": "application/octet-stream",
            "inference-header-content-length": str(json_length),
        },
    )
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(
        response.json()["outputs"][0]["data"], _expected(model_dir, rows), atol=1e-6
    )


def test_rest_binary_outputs_when_the_request_asks_for_them(server, model_dir, rows):
    """`binary_data_output` asks for every output in binary, named or not. (Three rows with
    every feature known: a JSON body has no NaN.)"""
    rows = rows.dropna().head(3)
    assert len(rows) == 3
    body = InferRequest(NAME, v2_inputs(rows, ModelArtifact(model_dir).layout)).to_rest()[0]
    body["parameters"] = {"binary_data_output": True}
    for outputs in (None, [{"name": "probability"}]):
        if outputs:
            body["outputs"] = outputs
        response = httpx.post(f"{server.http}/v2/models/{NAME}/infer", json=body)
        assert response.status_code == 200, response.text
        header = int(response.headers["inference-header-content-length"])
        head = json.loads(response.content[:header])
        first = head["outputs"][0]
        assert first["name"] == "probability" and first["parameters"]["binary_data_size"] == 12
        values = np.frombuffer(response.content[header : header + 12], dtype="<f4")
        np.testing.assert_allclose(values, _expected(model_dir, rows), atol=1e-6)


def test_single_tensor_in_metadata_order_matches_named_inputs(server, model_dir, rows):
    artifact = ModelArtifact(model_dir)
    codes = artifact.layout.encode_categorical(rows)
    tensor = np.hstack([codes, artifact.layout.numeric_matrix(rows)]).astype(np.float32)
    item = InferInput("features", list(tensor.shape), "FP32")
    item.set_data_from_numpy(tensor, binary_data=False)

    async def call():
        async with InferenceGRPCClient(server.grpc) as client:
            return await client.infer(InferRequest(NAME, [item]))

    response = asyncio.run(call())
    np.testing.assert_allclose(
        response.outputs[0].as_numpy(), _expected(model_dir, rows), atol=1e-6
    )


def test_a_batch_equals_single_requests(server, model_dir, rows):
    batch = httpx.post(
        f"{server.http}/v1/models/{NAME}:predict", json={"instances": _records(rows)}
    ).json()["predictions"]
    singles = [
        httpx.post(f"{server.http}/v1/models/{NAME}:predict", json={"instances": [record]}).json()[
            "predictions"
        ][0]
        for record in _records(rows.head(16))
    ]
    np.testing.assert_allclose(batch[:16], singles, atol=1e-6)


def _bad_v1(rows, **change):
    record = _records(rows.head(1))[0]
    for key, value in change.items():
        if value is KeyError:
            record.pop(key)
        else:
            record[key] = value
    return {"instances": [record]}


BAD_REST = [
    ("malformed json", lambda r: b"{not json", "request format"),  # refused by KServe itself
    ("truncated json", lambda r: b'{"instances": [', "request format"),
    ("no instances", lambda r: {"rows": []}, "instances"),
    ("instances not a list", lambda r: {"instances": {"a": 1}}, "instances"),
    ("missing feature", lambda r: _bad_v1(r, temp=KeyError), "temp"),
    ("unknown feature", lambda r: _bad_v1(r, colour="red"), "colour"),
    ("wrong type number", lambda r: _bad_v1(r, hour="nine"), "hour"),
    ("wrong type category", lambda r: _bad_v1(r, carrier=7), "carrier"),
    ("null where required", lambda r: _bad_v1(r, distance=None), "distance"),
    ("out of range", lambda r: _bad_v1(r, hour=31), "hour"),
    ("negative distance", lambda r: _bad_v1(r, distance=-10), "distance"),
    ("batch over limit", lambda r: {"instances": _records(r.head(1)) * 101}, "limit of 100"),
    ("empty batch", lambda r: {"instances": []}, "empty"),
]


def _post(url: str, payload) -> httpx.Response:
    """A JSON body, or bytes sent as one."""
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(url, content=content, headers={"content-type": "application/json"})


def _refused_naming(url: str, payload, names: str) -> None:
    response = _post(url, payload)
    assert response.status_code == 400, response.text
    assert names in response.json()["error"]


@pytest.mark.parametrize(("case", "body", "names"), BAD_REST, ids=[c[0] for c in BAD_REST])
def test_bad_rest_inputs_are_400_naming_the_field(server, rows, case, body, names):
    _refused_naming(f"{server.http}/v1/models/{NAME}:predict", body(rows), names)


def _bad_v2(rows, layout, **change):
    body = InferRequest(NAME, v2_inputs(rows.head(1), layout)).to_rest()[0]
    for name, value in change.items():
        item = next(i for i in body["inputs"] if i["name"] == name)
        if value is KeyError:
            body["inputs"].remove(item)
        else:
            item.update(value)
    return body


BAD_REST_V2 = [
    ("malformed json", lambda r, layout: b"{not json", "JSON"),
    ("not an object", lambda r, layout: [1, 2], "JSON object"),
    ("inputs not a list", lambda r, layout: {"inputs": {"hour": 9}}, "inputs"),
    ("input without data", lambda r, layout: _bad_v2(r, layout, temp={"data": None}), "inputs."),
    ("missing feature", lambda r, layout: _bad_v2(r, layout, temp=KeyError), "temp"),
    ("wrong datatype", lambda r, layout: _bad_v2(r, layout, hour={"datatype": "BYTES"}), "hour"),
    ("text in a number", lambda r, layout: _bad_v2(r, layout, hour={"data": ["nine"]}), "hour"),
    (
        "null where required",
        lambda r, layout: _bad_v2(r, layout, distance={"data": [None]}),
        "distance",
    ),
    ("out of range", lambda r, layout: _bad_v2(r, layout, hour={"data": [31]}), "hour"),
    (
        "rows differ",
        lambda r, layout: _bad_v2(r, layout, temp={"data": [1, 2], "shape": [2]}),
        "temp",
    ),
]


@pytest.mark.parametrize(("case", "body", "names"), BAD_REST_V2, ids=[c[0] for c in BAD_REST_V2])
def test_bad_v2_rest_inputs_are_400_naming_the_field(server, model_dir, rows, case, body, names):
    payload = body(rows, ModelArtifact(model_dir).layout)
    _refused_naming(f"{server.http}/v2/models/{NAME}/infer", payload, names)


def _grpc_bad(rows, layout, case):
    inputs = v2_inputs(rows.head(2), layout)
    if case == "missing input":
        inputs = inputs[1:]
    elif case == "wrong datatype":
        inputs[-1] = InferInput(inputs[-1].name, [2], "BYTES", ["a", "b"])
    elif case == "nan where required":
        index = layout.features.index("distance")
        item = InferInput("distance", [2], "FP32")
        item.set_data_from_numpy(np.array([np.nan, 1.0], np.float32), binary_data=False)
        inputs[index] = item
    elif case == "inf":
        index = layout.features.index("temp")
        item = InferInput("temp", [2], "FP32")
        item.set_data_from_numpy(np.array([np.inf, 1.0], np.float32), binary_data=False)
        inputs[index] = item
    elif case == "mismatched rows":
        inputs[0] = InferInput(inputs[0].name, [3], "BYTES", ["UA", "UA", "UA"])
    return InferRequest(NAME, inputs)


GRPC_CASES = [
    ("missing input", "missing"),
    ("wrong datatype", "datatype"),
    ("nan where required", "distance"),
    ("inf", "temp"),
    ("mismatched rows", "rows"),
]


@pytest.mark.parametrize(("case", "names"), GRPC_CASES, ids=[c[0] for c in GRPC_CASES])
def test_bad_grpc_inputs_are_invalid_argument(server, model_dir, rows, case, names):
    layout = ModelArtifact(model_dir).layout

    async def call():
        async with InferenceGRPCClient(server.grpc, retries=0) as client:
            return await client.infer(_grpc_bad(rows, layout, case))

    with pytest.raises(grpc.aio.AioRpcError) as error:
        asyncio.run(call())
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert names in error.value.details()


def test_bad_inputs_are_counted_by_reason_and_the_server_keeps_answering(
    server, registered, model_dir, rows
):
    v1, v2 = f"{server.http}/v1/models/{NAME}:predict", f"{server.http}/v2/models/{NAME}/infer"
    layout = ModelArtifact(model_dir).layout
    before = metric_samples(server.http)
    malformed = [  # v1: two bodies that are not JSON (refused by KServe), one without
        # "instances"; v2: a body that is not JSON, one not an object, two off the schema
        (v1, b"{not json"),
        (v1, b'{"instances": ['),
        (v1, {"rows": []}),
        (v2, b"{not json"),
        (v2, [1, 2]),
        (v2, {"inputs": {"hour": 9}}),
        (v2, _bad_v2(rows, layout, temp={"data": None})),
    ]
    statuses = [_post(url, body).status_code for url, body in malformed]
    statuses.append(_post(v1, _bad_v1(rows, hour=31)).status_code)
    statuses.append(_post(v1, _bad_v1(rows, temp=KeyError)).status_code)
    assert statuses == [400] * 9
    assert server.alive
    good = httpx.post(v1, json={"instances": _records(rows.head(4))})
    assert good.status_code == 200
    np.testing.assert_allclose(
        good.json()["predictions"], _expected(model_dir, rows.head(4)), atol=1e-6
    )
    unseen = _post(v1, _bad_v1(rows, carrier="ZZ"))
    assert unseen.status_code == 200  # an unknown category is served, and counted
    change = metric_samples(server.http)
    change.subtract(before)
    invalid = "sluice_invalid_requests_total"
    assert change[(invalid, (("reason", "malformed"),))] == 7
    assert change[(invalid, (("reason", "out_of_range"),))] == 1
    assert change[(invalid, (("reason", "missing_feature"),))] == 1
    assert change[("sluice_unseen_categories_total", (("feature", "carrier"),))] == 1
    scored = ("sluice_predictions_total", (("model_version", registered["version"]),))
    assert change[scored] == 5
    version = (("model_version", registered["version"]),)
    outcome = {
        o: change[("sluice_requests_total", (*version, ("outcome", o)))]
        for o in ("ok", "client_error", "server_error")
    }
    # the five JSON objects that break a rule reach the model; the rest are refused before
    assert outcome == {"ok": 2, "client_error": 5, "server_error": 0}
    assert change[("sluice_request_seconds_count", version)] == 7
    timed = [v for (name, _), v in change.items() if name == "request_predict_seconds_count"]
    assert sum(timed) >= 2  # KServe's own latency histogram counted the answered calls
    log = Path(server.log).read_text()
    assert "400 POST" in log and "Traceback" not in log  # one line per client error


def test_batch_file_inference_matches_the_server(server, model_dir, rows, tmp_path):
    from serving.batch import predict_file

    rows.to_parquet(tmp_path / "in.parquet", index=False)
    model = ModelArtifact(model_dir, codes=True)  # as `sluice predict` loads it
    result = predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet")
    scored = pd.read_parquet(tmp_path / "out.parquet")
    served = httpx.post(
        f"{server.http}/v1/models/{NAME}:predict", json={"instances": _records(rows)}
    ).json()
    assert result.rows == len(rows) == len(scored)
    np.testing.assert_allclose(scored["probability"], served["predictions"], atol=1e-6)
    assert scored["delayed"].tolist() == served["delayed"]


def test_batch_file_refuses_a_missing_column(model_dir, rows, tmp_path):
    from serving.batch import predict_file

    rows.drop(columns=["temp"]).to_parquet(tmp_path / "in.parquet", index=False)
    with pytest.raises(KeyError, match="temp"):
        predict_file(ModelArtifact(model_dir), tmp_path / "in.parquet", tmp_path / "out.parquet")


def test_the_registered_mlflow_model_on_raw_rows_answers_as_the_server(
    server, registered, model_dir, rows
):
    """What a stock runtime serves (MLServer's mlflow runtime runs this pyfunc): the
    registered version, loaded by MLflow alone and given raw rows (text, numbers, a missing
    value, an unknown carrier), answers what the sluice server answers for them. Numbers go
    as floats, as OIP v2 sends them: MLflow's schema refuses int64 for a `double` column."""
    import mlflow

    from components.base.registry import tracking

    raw = rows.astype(dict.fromkeys(ModelArtifact(model_dir).layout.numeric, "float64"))
    raw.loc[0, "carrier"] = "ZZ"
    raw.loc[1, "temp"] = np.nan
    with tracking(registered["env"]["MLFLOW_TRACKING_URI"]):
        model = mlflow.pyfunc.load_model(registered["model_uri"])
    assert model.metadata.get_input_schema().input_names() == list(rows.columns)
    answered = model.predict(raw)
    served = httpx.post(
        f"{server.http}/v1/models/{NAME}:predict", json={"instances": _records(raw)}
    ).json()
    np.testing.assert_array_equal(
        answered["probability"].to_numpy(), np.float32(served["predictions"])
    )
    carrier_bit = 1  # the first categorical feature's bit in the `unseen` output
    assert raw.columns[0] == "carrier"
    assert answered["unseen"].tolist() == [carrier_bit] + [0] * (len(raw) - 1)


def _calls(running, rows: pd.DataFrame, layout) -> None:
    """One good REST v2 call, one good gRPC call and one bad REST v1 call."""
    body = InferRequest(NAME, v2_inputs(rows.head(1), layout)).to_rest()[0]
    assert httpx.post(f"{running.http}/v2/models/{NAME}/infer", json=body).status_code == 200
    bad = httpx.post(f"{running.http}/v1/models/{NAME}:predict", json={"instances": [{}]})
    assert bad.status_code == 400

    async def call():
        async with InferenceGRPCClient(running.grpc) as client:
            return await client.infer(InferRequest(NAME, v2_inputs(rows.head(1), layout)))

    asyncio.run(call())


PER_REQUEST_LINES = ('"POST /v2/models/', "time:wall", "requestId:", "grpc method:")
"""uvicorn's access line, KServe's timing, latency and gRPC method lines."""


def test_per_request_lines_are_off_unless_asked_for_and_errors_are_logged(model_dir, rows):
    layout = ModelArtifact(model_dir).layout
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # uvicorn's access line goes to stdout
    for flags, logged in (((), False), (("--access_logs",), True)):
        with model_server("--model_uri", str(model_dir), *flags, env=env) as running:
            _calls(running, rows, layout)
            log = Path(running.log).read_text()
        assert "400 POST /v1/models" in log  # a client error: one line, either way
        found = [line for line in PER_REQUEST_LINES if line in log]
        assert found == (list(PER_REQUEST_LINES) if logged else []), (flags, found)
