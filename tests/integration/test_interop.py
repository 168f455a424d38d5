"""Clients other than KServe's: NVIDIA's `tritonclient` over HTTP (binary and JSON) and gRPC
(it sends values as raw bytes and reads answers the same way) against the registered
model's server. Its numbers must equal what KServe's own client gets for the same rows."""

import asyncio
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from kserve import InferenceGRPCClient
from kserve.protocol.infer_type import InferRequest

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME, PLATFORM
from tests.integration.helpers import v2_inputs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def complete_rows(slice_training_frame, model_dir) -> pd.DataFrame:
    """Flights with every feature known: JSON has no NaN, and tritonclient sends no null."""
    features = ModelArtifact(model_dir).layout.features
    frame = pd.read_parquet(slice_training_frame)[features].dropna()
    return frame.tail(32).reset_index(drop=True)


@pytest.fixture(scope="module")
def triton(server, model_dir, complete_rows) -> dict:
    layout = ModelArtifact(model_dir).layout
    spec = {
        "http": server.http.removeprefix("http://"),
        "grpc": server.grpc,
        "model": MODEL_NAME,
        "rows": {
            name: complete_rows[name].astype(str if name in layout.categorical else float).tolist()
            for name in layout.features
        },
        "categorical": layout.categorical,
    }
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.triton_calls"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def kserve_answer(server, model_dir, complete_rows) -> dict:
    """The same rows through KServe's gRPC client, values in typed contents."""
    inputs = v2_inputs(complete_rows, ModelArtifact(model_dir).layout)

    async def call():
        async with InferenceGRPCClient(server.grpc) as client:
            return await client.infer(InferRequest(MODEL_NAME, inputs))

    response = asyncio.run(call())
    return {o.name: o.as_numpy() for o in response.outputs}


@pytest.mark.parametrize("call", ["http_binary", "http_json", "grpc"])
def test_tritonclient_gets_the_kserve_clients_numbers(
    triton, kserve_answer, model_dir, complete_rows, call
):
    got = triton[call]
    assert got["probability_dtype"] == "float32" and got["delayed_dtype"] == "bool"
    assert got["binary"] == (call != "http_json")  # answered in the form asked for
    np.testing.assert_array_equal(np.float32(got["probability"]), kserve_answer["probability"])
    assert got["delayed"] == kserve_answer["delayed"].tolist()
    expected = ModelArtifact(model_dir).predict_frame(complete_rows)[0]
    np.testing.assert_allclose(got["probability"], expected, atol=1e-6)


def test_a_raw_grpc_request_is_answered_raw(triton, registered):
    assert triton["grpc"]["raw_outputs"] == 2
    assert triton["grpc"]["model_version"] == registered["version"]


def test_model_metadata_names_the_version_and_the_runtime(triton, registered, model_dir):
    for metadata in (triton["metadata_http"], triton["metadata_grpc"]):
        assert metadata["versions"] == [registered["version"]]
        assert metadata["platform"] == PLATFORM
        assert [i["name"] for i in metadata["inputs"]] == ModelArtifact(model_dir).layout.features
