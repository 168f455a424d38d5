"""Events exactly as KServe's agent sidecar sends them (`pkg/logger/worker.go`, v0.20):
a binary-mode CloudEvent whose headers carry the attributes and whose body is the raw
request or response."""

from __future__ import annotations

import orjson

from serving.drift.events import REQUEST_TYPE, RESPONSE_TYPE


def headers(kind: str, event_id: str, content_type: str = "application/json") -> dict[str, str]:
    return {
        "Ce-Specversion": "1.0",
        "Ce-Id": event_id,
        "Ce-Type": REQUEST_TYPE if kind == "request" else RESPONSE_TYPE,
        "Ce-Source": "http://localhost:9081/",
        "Ce-Time": "2026-12-06T05:00:00.123456789Z",
        "Ce-Recordedtime": "2026-12-06T05:00:00.2Z",
        "Ce-Inferenceservicename": "sluice-flights",
        "Ce-Namespace": "sluice",
        "Ce-Component": "predictor",
        "Ce-Endpoint": "",
        "Ce-Metadata": "{}",
        "Content-Type": content_type,
    }


def v1_request(rows: list[dict]) -> bytes:
    return orjson.dumps({"instances": rows})


def v1_response(scores: list[float], version: str | None, name: str = "sluice-flights") -> bytes:
    return orjson.dumps(
        {
            "predictions": scores,
            "delayed": [s > 0.5 for s in scores],
            "threshold": 0.5,
            "model_name": name,
            "model_version": version,
        }
    )


def v2_request(columns: dict[str, list]) -> bytes:
    inputs = [
        {
            "name": name,
            "datatype": "BYTES" if values and isinstance(values[0], str) else "FP32",
            "shape": [len(values)],
            "data": values,
        }
        for name, values in columns.items()
    ]
    return orjson.dumps({"id": "r1", "inputs": inputs})


def v2_response(scores: list[float], version: str, name: str = "sluice-flights") -> bytes:
    return orjson.dumps(
        {
            "id": "r1",
            "model_name": name,
            "model_version": version,
            "outputs": [
                {"name": "probability", "datatype": "FP32", "shape": [len(scores)], "data": scores},
                {
                    "name": "delayed",
                    "datatype": "BOOL",
                    "shape": [len(scores)],
                    "data": [False] * len(scores),
                },
            ],
        }
    )
