"""The KServe predictor: v1 `:predict`, Open Inference Protocol v2 over REST and gRPC.

Requests are validated and decoded in `preprocess` (client errors → 400 /
INVALID_ARGUMENT, counted by reason) and scored through onnxruntime, with optional adaptive
micro-batching across concurrent requests; `serving.batcher` says where model calls run.
gRPC requests arrive as the protobuf message itself and get one back (`serving.grpc_messages`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from kserve import Model
from kserve.errors import InvalidInput
from kserve.model import InferenceVerb
from kserve.protocol.grpc.grpc_predict_v2_pb2 import (
    ModelInferRequest,
)
from kserve.protocol.infer_type import InferRequest

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import PLATFORM
from components.base.locate import resolve_model
from serving.answers import (
    grpc_response,
    infer_response,
    output_types,
    output_values,
    requested_outputs,
    v1_body,
)
from serving.batcher import MicroBatcher, ModelRunner, inline_rows_within
from serving.decode_v1 import decode_v1
from serving.decode_v2 import V2Decoder
from serving.json_bodies import RestV2Body, parse_json_body, validated_v2_request
from serving.metrics import (
    OUTCOMES,
    PREDICTIONS,
    REQUEST_SECONDS,
    REQUESTS,
    SCORES,
    UNSEEN_CATEGORIES,
)
from serving.request_errors import counted_client_errors
from serving.request_rules import ModelInputs, RequestRules

logger = logging.getLogger("kserve.sluice")  # formatted and levelled with KServe's own lines


@dataclass(frozen=True)
class ServingOptions:
    batching: bool = True
    max_batch_rows: int = 256
    max_wait_ms: float = 2.0
    inline_budget_us: float = 100.0
    """Model calls that take at most this long run on the event loop (`serving.batcher`)."""
    max_request_rows: int = 10_000
    model_version: str | None = None
    """Reported instead of the registry's version (or, for a directory, `unregistered`)."""


@dataclass
class Decoded:
    """A validated request on its way from `preprocess` to `predict`."""

    inputs: ModelInputs
    request: InferRequest | ModelInferRequest | RestV2Body | None  # None for v1
    outputs: tuple[str, ...] = ()  # v2: the outputs to answer with


class FlightDelayPredictor(Model):
    reads_grpc_messages = True  # `serving.grpc_messages`: gRPC requests arrive as protobuf
    reads_rest_json = True  # `serving.v2_rest`: v2 REST requests arrive as parsed JSON
    platform = PLATFORM  # OIP model metadata

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
        self.version: str | None = None  # until loaded

    def load(self) -> bool:
        directory, registered = resolve_model(self.model_uri, self.tracking_uri, self.cache_dir)
        self.artifact = ModelArtifact(directory)
        self.version = self.options.model_version or registered or self.artifact.version
        self._predictions = PREDICTIONS.labels(self.version)
        self._scores = SCORES.labels(self.version)
        self._latency = REQUEST_SECONDS.labels(self.version)
        self._outcomes = {o: REQUESTS.labels(self.version, o) for o in OUTCOMES}
        self._unseen = {f: UNSEEN_CATEGORIES.labels(f) for f in self.artifact.layout.categorical}
        self._threshold_text = str(self.artifact.threshold)
        self.rules = RequestRules.from_metadata(
            self.artifact.metadata, self.options.max_request_rows
        )
        self.v2 = V2Decoder(self.rules)
        layout = self.artifact.layout
        inline_rows = inline_rows_within(
            self.artifact.predict_arrays,
            (len(layout.categorical), len(layout.numeric)),
            self.options.inline_budget_us / 1e6,
        )
        logger.info(
            "model calls of up to %d rows run on the event loop (%.0f µs budget)",
            inline_rows,
            self.options.inline_budget_us,
        )
        runner = ModelRunner(self.artifact.predict_arrays, inline_rows)
        self.scorer = (
            MicroBatcher(runner, self.options.max_batch_rows, self.options.max_wait_ms / 1000)
            if self.options.batching
            else runner
        )
        self.ready = True
        return self.ready

    def decode(self, payload) -> Decoded:
        with counted_client_errors():
            if isinstance(payload, RestV2Body):
                plain = self.v2.from_json(payload.body)
                if plain is not None:
                    inputs, names = plain
                    return Decoded(inputs, payload, requested_outputs(names))
                validated = validated_v2_request(payload.body)
                payload = InferRequest.from_inference_request(validated, self.name)
            if isinstance(payload, ModelInferRequest):
                inputs = self.v2.from_grpc(payload)
                return Decoded(
                    inputs, payload, requested_outputs([o.name for o in payload.outputs])
                )
            if isinstance(payload, InferRequest):
                inputs = self.v2.from_request(payload)
                names = [o.name for o in payload.request_outputs or ()]
                return Decoded(inputs, payload, requested_outputs(names))
            return Decoded(decode_v1(self.rules, parse_json_body(payload)), None)

    async def __call__(self, body, headers=None, verb=InferenceVerb.PREDICT):
        """KServe's call (REST v1, v2 and gRPC alike), timed and counted by outcome under
        this server's model version: what the rollout compares a canary with its stable."""
        started = time.perf_counter()
        try:
            answer = await super().__call__(body, headers, verb)
        except InvalidInput:
            self._outcomes["client_error"].inc()
            raise
        except Exception:
            self._outcomes["server_error"].inc()
            raise
        finally:
            self._latency.observe(time.perf_counter() - started)
        self._outcomes["ok"].inc()
        return answer

    async def preprocess(self, payload, headers=None):
        return self.decode(payload)

    def validate(self, payload):
        return payload  # decode() above validated it

    async def predict(self, payload: Decoded, headers=None, response_headers=None):
        inputs = payload.inputs
        probabilities, unseen = await self.scorer.submit(inputs.categorical, inputs.numeric)
        return self.respond(payload, probabilities, unseen)

    def respond(self, payload: Decoded, probabilities: np.ndarray, unseen: np.ndarray):
        """The answer in the request's protocol; `unseen` (the graph's bits) is counted."""
        scores = probabilities.tolist()
        self._predictions.inc(len(scores))
        for value in scores[:16]:  # a bounded sample keeps big batches cheap
            self._scores.observe(value)
        if unseen.any():  # the one check a request with only known categories pays
            for feature, count in self.artifact.layout.unseen_counts(unseen).items():
                if count:
                    self._unseen[feature].inc(count)
        request = payload.request
        if request is None:
            delayed = self._delayed(probabilities)
            return v1_body(scores, delayed, self.artifact.threshold, self.name, self.version)
        outputs = output_values(payload.outputs, scores, lambda: self._delayed(probabilities))
        if isinstance(request, ModelInferRequest):
            return grpc_response(request, outputs, self.name, self.version, self._threshold_text)
        return infer_response(request, outputs, self.name, self.version, self._threshold_text)

    def _delayed(self, probabilities: np.ndarray) -> list[bool]:
        return (probabilities >= self.artifact.threshold).tolist()

    def get_input_types(self) -> list[dict]:
        layout = self.rules.layout
        return [
            {"name": f, "datatype": "BYTES" if f in layout.categorical else "FP32", "shape": [-1]}
            for f in layout.features
        ]

    def get_output_types(self) -> list[dict]:
        return output_types()
