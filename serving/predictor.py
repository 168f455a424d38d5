"""The KServe predictor: v1 `:predict`, Open Inference Protocol v2 over REST and gRPC.

Requests are validated and decoded in `preprocess` (client errors → 400 /
INVALID_ARGUMENT, counted by reason), scored through onnxruntime off the event loop, with
optional adaptive micro-batching across concurrent requests.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from kserve import Model
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from serving.artifact import ModelArtifact
from serving.batcher import DirectScorer, MicroBatcher
from serving.locate import resolve_model
from serving.metrics import INVALID_REQUESTS, PREDICTIONS, SCORES, UNSEEN_CATEGORIES
from serving.requests import ModelInputs, RequestError, RequestRules, parse_json_body


@dataclass(frozen=True)
class ServingOptions:
    batching: bool = True
    max_batch_rows: int = 256
    max_wait_ms: float = 2.0
    max_request_rows: int = 10_000
    model_version: str | None = None
    """Overrides the version read from the registry or the metadata."""


@dataclass
class Decoded:
    """A validated request on its way from `preprocess` to `predict`."""

    inputs: ModelInputs
    request: InferRequest | None  # None for v1


class FlightDelayPredictor(Model):
    def __init__(
        self,
        name: str,
        model_uri: str,
        options: ServingOptions,
        tracking_uri: str,
        cache_dir: Path,
    ):
        super().__init__(name)
        self.model_uri, self.options = model_uri, options
        self.tracking_uri, self.cache_dir = tracking_uri, cache_dir
        self.artifact: ModelArtifact | None = None
        self.version = "unknown"

    def load(self) -> bool:
        directory, registered = resolve_model(self.model_uri, self.tracking_uri, self.cache_dir)
        self.artifact = ModelArtifact(directory)
        self.version = self.options.model_version or registered or self.artifact.version
        self._predictions = PREDICTIONS.labels(self.version)
        self.rules = RequestRules.from_metadata(
            self.artifact.metadata, self.options.max_request_rows
        )
        score = self.artifact.predict_arrays
        self.scorer = (
            MicroBatcher(score, self.options.max_batch_rows, self.options.max_wait_ms / 1000)
            if self.options.batching
            else DirectScorer(score)
        )
        self.ready = True
        return self.ready

    def decode(self, payload) -> Decoded:
        try:
            if isinstance(payload, InferRequest):
                return Decoded(self.rules.from_v2(payload), payload)
            return Decoded(self.rules.from_v1(parse_json_body(payload)), None)
        except RequestError as exc:
            INVALID_REQUESTS.labels(exc.label).inc()
            raise

    async def preprocess(self, payload, headers=None):
        return self.decode(payload)

    def validate(self, payload):
        return payload  # decode() above validated it

    async def predict(self, payload: Decoded, headers=None, response_headers=None):
        inputs = payload.inputs
        probabilities = await self.scorer.submit(inputs.categorical, inputs.numeric)
        return self.respond(payload, probabilities)

    def respond(self, payload: Decoded, probabilities: np.ndarray):
        self._predictions.inc(len(probabilities))
        for value in probabilities[:16].tolist():  # a bounded sample keeps big batches cheap
            SCORES.observe(value)
        for feature, count in payload.inputs.unseen.items():
            if count:
                UNSEEN_CATEGORIES.labels(feature).inc(count)
        delayed = probabilities >= self.artifact.threshold
        if payload.request is None:
            return {
                "predictions": probabilities.tolist(),
                "delayed": delayed.tolist(),
                "threshold": self.artifact.threshold,
                "model_name": self.name,
                "model_version": self.version,
            }
        request = payload.request
        rows = len(probabilities)
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=self.version,
            infer_outputs=[
                InferOutput(
                    "probability", [rows], "FP32", probabilities.astype(np.float32).tolist()
                ),
                InferOutput("delayed", [rows], "BOOL", delayed.tolist()),
            ],
            from_grpc=request.from_grpc,
            parameters={"threshold": str(self.artifact.threshold)},  # gRPC: no floats
        )

    def get_input_types(self) -> list[dict]:
        layout = self.rules.layout
        return [
            {"name": f, "datatype": "BYTES" if f in layout.categorical else "FP32", "shape": [-1]}
            for f in layout.features
        ]

    def get_output_types(self) -> list[dict]:
        return [
            {"name": "probability", "datatype": "FP32", "shape": [-1]},
            {"name": "delayed", "datatype": "BOOL", "shape": [-1]},
        ]
