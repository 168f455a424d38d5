"""Answers in every protocol the servers speak: the outputs a model has, the body of each
kind of answer, and a predictor's answer read back (which the transformer relays to its
caller in the caller's protocol, whatever protocol the predictor spoke)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from kserve.protocol.grpc.grpc_predict_v2_pb2 import ModelInferRequest, ModelInferResponse
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse, RequestedOutput

from components.base.contract.names import DECISION_NAME, OUTPUT_NAME
from serving.columns import spans
from serving.datatypes import GRPC_CONTENTS, RAW_DTYPES
from serving.request_errors import RequestError

OUTPUTS = {OUTPUT_NAME: "FP32", DECISION_NAME: "BOOL"}  # name: v2 datatype; the decision second


def output_types() -> list[dict]:
    return [{"name": n, "datatype": t, "shape": [-1]} for n, t in OUTPUTS.items()]


def requested_outputs(names: Sequence[str]) -> tuple[str, ...]:
    """OIP v2: a request may name the outputs it wants; without names it gets them all."""
    if not names:
        return tuple(OUTPUTS)
    names = tuple(names)
    unknown = sorted(set(names) - set(OUTPUTS))
    if unknown:
        raise RequestError(
            "unknown_output", f"outputs: unknown output(s) {unknown}; the model has {list(OUTPUTS)}"
        )
    return names


def output_values(
    names: Sequence[str], probability: list[float], delayed: Callable[[], list[bool]]
) -> dict[str, list]:
    """The values of the outputs asked for; the decision is computed only when asked."""
    return {name: probability if name == OUTPUT_NAME else delayed() for name in names}


def v1_body(
    scores: list[float],
    delayed: list[bool],
    threshold: float,
    model_name: str,
    version: str | None,
) -> dict:
    return {
        "predictions": scores,
        DECISION_NAME: delayed,
        "threshold": threshold,
        "model_name": model_name,
        "model_version": version,
    }


def grpc_response(
    request: ModelInferRequest,
    outputs: dict[str, list],
    model_name: str,
    version: str,
    threshold_text: str,
) -> ModelInferResponse:
    """In the form the request used: raw bytes (`raw_output_contents`) for a request sent
    raw, as Triton and KServe answer and as NVIDIA's clients read; typed contents else."""
    # Built field by field: half the time of one nested constructor call.
    response = ModelInferResponse(
        id=request.id or str(uuid.uuid4()), model_name=model_name, model_version=version
    )
    response.parameters["threshold"].string_param = threshold_text
    raw = bool(request.raw_input_contents)
    rows = [len(next(iter(outputs.values())))]
    for name, data in outputs.items():
        datatype = OUTPUTS[name]
        tensor = response.outputs.add(name=name, datatype=datatype, shape=rows)
        if raw:
            response.raw_output_contents.append(
                np.asarray(data, dtype=RAW_DTYPES[datatype]).tobytes()
            )
        else:
            getattr(tensor.contents, GRPC_CONTENTS[datatype]).extend(data)
    return response


def infer_response(
    request, outputs: dict[str, list], model_name: str, version: str, threshold_text: str
) -> InferResponse:
    """For an `InferRequest` (or a `RestV2Body`): binary outputs where the request asked
    for them (REST `binary_data_output`, or gRPC sent raw), JSON or typed contents else.
    The version is also a parameter: KServe's REST client drops the `model_version` field
    when it reads an answer (`InferResponse.from_bytes`), and a transformer relays it."""
    rows = [len(next(iter(outputs.values())))]
    binary = isinstance(request, InferRequest) and request.use_binary_outputs
    requested = getattr(request, "request_outputs", None)
    if requested and binary:  # KServe reads binary_data per output when outputs are named
        requested = [
            o if o.binary_data is not None else RequestedOutput(o.name, {"binary_data": True})
            for o in requested
        ]
    return InferResponse(
        response_id=request.id or str(uuid.uuid4()),
        model_name=model_name,
        model_version=version,
        infer_outputs=[InferOutput(n, rows, OUTPUTS[n], data) for n, data in outputs.items()],
        from_grpc=request.from_grpc,
        parameters={"threshold": threshold_text, "model_version": version},  # gRPC: no floats
        use_binary_outputs=binary,
        requested_outputs=requested,
    )


@dataclass(frozen=True)
class Answer:
    """A predictor's answer, whatever protocol it came in."""

    probability: list[float]
    delayed: list[bool]
    threshold: float
    version: str | None

    @classmethod
    def read(cls, response: dict | InferResponse) -> Answer:
        if isinstance(response, dict):  # v1
            return cls(
                [float(v) for v in response["predictions"]],
                [bool(v) for v in response[DECISION_NAME]],
                float(response["threshold"]),
                response.get("model_version"),
            )
        outputs = {output.name: output for output in response.outputs}
        parameters = {
            k: getattr(v, "string_param", v)  # gRPC: InferParameters
            for k, v in (response.parameters or {}).items()
        }
        return cls(
            outputs[OUTPUT_NAME].as_numpy().astype(float).reshape(-1).tolist(),
            outputs[DECISION_NAME].as_numpy().astype(bool).reshape(-1).tolist(),
            float(parameters["threshold"]),
            response.model_version or parameters.get("model_version"),
        )

    def split(self, sizes: Sequence[int]) -> list[Answer]:
        """The answers to the requests of a merged call, `sizes` rows each, in order."""
        rows = {len(self.probability), len(self.delayed)}
        if rows != {sum(sizes)}:
            raise ValueError(f"the answer has {sorted(rows)} rows, not {sum(sizes)}")
        return [
            Answer(self.probability[span], self.delayed[span], self.threshold, self.version)
            for span in spans(sizes)
        ]

    def render(self, incoming, names: Sequence[str], model_name: str):
        """This answer in the protocol of `incoming`, the caller's request (None for v1)."""
        if incoming is None:
            return v1_body(self.probability, self.delayed, self.threshold, model_name, self.version)
        outputs = output_values(names, self.probability, lambda: self.delayed)
        return infer_response(incoming, outputs, model_name, self.version, str(self.threshold))
