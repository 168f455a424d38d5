"""Request bodies as JSON: parsed with orjson, and a v2 body checked against KServe's schema
where it is not the plain request."""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from pydantic import ValidationError

from serving.request_errors import RequestError


def parse_json_body(payload):
    """A v1 body that reached the model as bytes (no JSON content type) is parsed here."""
    if not isinstance(payload, bytes | bytearray):
        return payload
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RequestError("malformed", f"body: not valid JSON: {exc}") from None


def parse_json_object(payload: bytes) -> dict:
    body = parse_json_body(payload)
    if not isinstance(body, dict):
        raise RequestError("malformed", "body: expected a JSON object")
    return body


@dataclass(frozen=True)
class RestV2Body:
    """An OIP v2 REST body as parsed JSON, for a model that reads its REST requests itself
    (`serving.v2_rest`). Read where KServe's `InferRequest` would be."""

    body: dict
    from_grpc = False  # not a field: as `InferRequest.from_grpc` reads

    @property
    def id(self) -> str | None:
        return self.body.get("id")


def validated_v2_request(body: dict) -> InferenceRequest:
    """The body checked against KServe's v2 schema; the first break, named by its place in
    the body (`inputs.0.data: Field required`), is a client error."""
    try:
        return InferenceRequest.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise RequestError("malformed", f"{where}: {first['msg']}") from None
