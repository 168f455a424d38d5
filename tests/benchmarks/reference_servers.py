"""The KServe servers the sluice predictor is measured against, on the same artifact (MLServer,
the third peer, is `tests.benchmarks.mlserver`).

- `kserve`: a KServe custom predictor as a careful KServe user writes one for this model.
- `ceiling`: a KServe model that answers a constant: the most the server stack can do.

Both log per request as sluice does by default (`--access_logs`, off: errors only), so the
logging choice is the same for every KServe server in the benchmark.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
from kserve import Model, ModelServer, model_server
from kserve import logging as kserve_logging
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import OUTPUT_NAME
from serving import access_logs


def as_text(values: np.ndarray) -> np.ndarray:
    """A BYTES input as the str array a string graph input reads, in one vectorised step: gRPC
    delivers bytes, REST JSON str."""
    if values.size and isinstance(values.flat[0], bytes):
        return np.char.decode(values.astype(np.bytes_), "utf-8")
    return values.astype(np.str_)


class CarefulKServePredictor(Model):
    """A KServe custom predictor for the registered ONNX graph, written as a careful KServe
    user would write it, not as a minimal docs example: `predict` is async (KServe runs a
    sync hook on the event loop anyway, so async only drops the wrapper); each input is
    converted once, as a whole array, with no Python loop per row; onnxruntime gets one
    intra-op and one inter-op thread, as the server is pinned to one core (its default pool
    is sized to every core and spins against the event loop). A one-row model call takes
    tens of microseconds, less than a hand-off to a thread, so it runs inline. It has what
    stock KServe has and nothing of sluice's: no batching across requests, no validation of
    names, types or ranges, no out-of-vocabulary count; it answers `probability`."""

    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model_dir = Path(model_dir)

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        model_file = self.model_dir / ModelMetadata.read(self.model_dir).model_file
        self.session = ort.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        self.text_inputs = {i.name for i in self.session.get_inputs() if i.type == "tensor(string)"}
        self.ready = True
        return True

    async def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        feed = {}
        for item in payload.inputs:
            values = item.as_numpy().reshape(-1)
            feed[item.name] = (
                as_text(values) if item.name in self.text_inputs else values.astype(np.float32)
            )
        (probability,) = self.session.run([OUTPUT_NAME], feed)
        output = InferOutput(OUTPUT_NAME, list(probability.shape), "FP32")
        output.set_data_from_numpy(probability, binary_data=False)
        return InferResponse(
            response_id=payload.id or "0",
            model_name=self.name,
            infer_outputs=[output],
            from_grpc=payload.from_grpc,
        )


class ConstantModel(Model):
    def load(self) -> bool:
        self.ready = True
        return True

    async def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        return InferResponse(
            response_id=payload.id or "0",
            model_name=self.name,
            infer_outputs=[InferOutput(OUTPUT_NAME, [1], "FP32", [0.25])],
            from_grpc=payload.from_grpc,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve")
    parser.add_argument("--kind", choices=["kserve", "ceiling"], required=True)
    parser.add_argument("--model_uri", default="")
    parser.add_argument("--access_logs", action=argparse.BooleanOptionalAction, default=False)
    args = parser.parse_args()
    model = (
        CarefulKServePredictor(args.model_name, args.model_uri)
        if args.kind == "kserve"
        else ConstantModel(args.model_name)
    )
    model.load()
    if args.configure_logging:  # before `install`, which takes the access logger's handlers
        kserve_logging.configure_logging(args.log_config_file)
    access_logs.install(args.access_logs)
    ModelServer(
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=1,
        enable_latency_logging=args.access_logs,
    ).start([model])
