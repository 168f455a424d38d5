"""The transformer's aiohttp client to a remote predictor, against a real aiohttp server on
loopback: KServe's `InferenceRESTClient` contract (URLs, bodies, answers, errors)."""

import asyncio

import numpy as np
import orjson
import pytest
from aiohttp import web
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from serving.predictor_client import PredictorHTTPError, PredictorRESTClient


def test_urls_are_kserves_and_grpc_is_not_rest():
    v1 = PredictorRESTClient("http://predictor:8080/", "v1", 60)
    v2 = PredictorRESTClient("http://predictor:8080", "v2", 60)
    assert v1.url("m") == "http://predictor:8080/v1/models/m:predict"
    assert v2.url("m") == "http://predictor:8080/v2/models/m/infer"
    with pytest.raises(ValueError, match="'grpc-v2': REST to the predictor is v1 or v2"):
        PredictorRESTClient("http://predictor:8080", "grpc-v2", 60)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": "feature distance: must be >= 0"}', "feature distance: must be >= 0"),
        (b"<html>bad gateway</html>", "<html>bad gateway</html>"),
        (b'["not", "an", "error"]', '["not", "an", "error"]'),
    ],
)
def test_an_error_says_the_predictors_error_field_or_its_body(body, message):
    error = PredictorHTTPError(422, body)
    assert error.message == message
    assert str(error) == f"predictor answered 422: {message}"


async def _serve(handler):
    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def test_v1_and_v2_answers_and_errors_from_a_real_server():
    seen, requested = [], []

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.path, request.headers.get("content-type"), body))
        requested.append(request.headers.get("x-request-id"))
        if request.path.startswith("/v1/models/bad"):
            return web.json_response({"error": "no such feature"}, status=400)
        if request.path.startswith("/v1/"):
            return web.json_response({"predictions": [0.25]}, headers={"X-Answer": "v1"})
        response = InferResponse("1", "m", [InferOutput("probability", [1], "FP32", [0.5])])
        rendered, _ = response.to_rest()
        return web.Response(body=orjson.dumps(rendered), content_type="application/json")

    async def calls():
        runner, base = await _serve(handler)
        v1, v2 = PredictorRESTClient(base, "v1", 5), PredictorRESTClient(base, "v2", 5)
        try:
            headers: dict = {}
            answer = await v1.infer("m", {"instances": [{"a": 1}]}, {}, headers)
            with pytest.raises(PredictorHTTPError) as refused:
                await v1.infer("bad", {"instances": []}, {})
            request = InferRequest("m", [InferInput("a", [1], "FP32", [1.5])])
            typed = await v2.infer("m", request, {"x-request-id": "r1"})
            return answer, headers, refused.value, typed
        finally:
            await v1.close()
            await v2.close()
            await runner.cleanup()

    answer, headers, refused, typed = asyncio.run(calls())
    assert answer == {"predictions": [0.25]} and headers["x-answer"] == "v1"  # lower case
    assert requested == [None, None, "r1"]
    assert (refused.status, refused.message) == (400, "no such feature")
    assert isinstance(typed, InferResponse)
    np.testing.assert_allclose(typed.outputs[0].as_numpy(), [0.5])
    (p1, t1, b1), _, (p2, t2, b2) = seen
    assert (p1, t1, orjson.loads(b1)) == (
        "/v1/models/m:predict",
        "application/json",
        {"instances": [{"a": 1}]},
    )
    assert (p2, t2) == ("/v2/models/m/infer", "application/json")
    assert orjson.loads(b2)["inputs"][0]["data"] == [1.5]
    assert INFERENCE_CONTENT_LENGTH_HEADER not in str(seen)
