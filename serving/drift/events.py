"""KServe's payload logger events, read: a CloudEvent in binary mode (the `Ce-*` headers,
parsed by the CloudEvents SDK) whose body is the raw request or response the predictor saw.

A request gives feature rows (v1 `instances`, or v2 `inputs` of one flat input per
feature); a response gives the version that answered and its scores (v1 `predictions`, or
the v2 output named in the contract). The agent logs every call through it, so an event
about no inference (a request without a body, an answer without scores: metadata and
health routes) is `Ignored`. Anything else is an `EventError` naming the header or field,
which the service answers with a 400."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson
from cloudevents.exceptions import GenericException
from cloudevents.http import from_http

from components.base.contract.names import OUTPUT_NAME, UNREGISTERED

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
EVENT_TYPES = (REQUEST_TYPE, RESPONSE_TYPE)
SCALARS = (str, int, float, bool, type(None))
"""What one feature value of a row may be in JSON."""
REQUIRED_HEADERS = ("ce-specversion", "ce-id", "ce-type", "ce-source")
"""CloudEvents' required attributes in binary mode. The SDK, missing one, reports the body
as unstructured JSON; checked first, the error names the header."""


class EventError(ValueError):
    """An event the service cannot take: `reason` labels the counter, the message names
    the header or field and the rule."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Ignored:
    reason: str


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    id: str
    columns: dict[str, list]
    """Feature name: one value per row."""
    rows: int


@dataclass(frozen=True, slots=True)
class LoggedResponse:
    id: str
    model_name: str
    model_version: str
    scores: list[float]


def parse(headers: Mapping[str, str], body: bytes) -> LoggedRequest | LoggedResponse | Ignored:
    lowered = {k.lower(): v for k, v in headers.items()}
    missing = [h for h in REQUIRED_HEADERS if not lowered.get(h)]
    if missing:
        names = ", ".join(h.title() for h in missing)
        raise EventError("not_cloudevent", f"headers: missing {names} (a binary CloudEvent)")
    if lowered.get("content-type", "").lower().startswith("application/cloudevents"):
        raise EventError(
            "not_cloudevent",
            f"Content-Type {lowered['content-type']!r}: structured mode; the logger sends "
            "binary mode (attributes in Ce-* headers, the payload as the body)",
        )
    try:
        event = from_http(lowered, body, data_unmarshaller=_as_sent)
    except (GenericException, ValueError, TypeError) as exc:
        raise EventError("not_cloudevent", f"CloudEvent: {exc}") from None
    kind = event["type"]
    if kind not in EVENT_TYPES:
        raise EventError(
            "event_type", f"Ce-Type {kind!r}: expected one of {', '.join(EVENT_TYPES)}"
        )
    if not event.data:
        return Ignored("no_body")  # a GET through the agent: metadata, readiness
    try:
        payload = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise EventError("body", "body: not JSON (the drift service reads JSON bodies)") from None
    if not isinstance(payload, dict):
        raise EventError("body", "body: expected a JSON object")
    if kind == REQUEST_TYPE:
        columns, rows = _request_columns(payload)
        return LoggedRequest(event["id"], columns, rows)
    if "predictions" not in payload and not _output_data(payload.get("outputs")):
        return Ignored("no_scores")  # the answer to a metadata or health call
    return _response(event["id"], payload)


def _output_data(outputs) -> bool:
    """Whether v2 outputs carry values (model metadata lists outputs without any)."""
    return isinstance(outputs, list) and any(isinstance(o, dict) and "data" in o for o in outputs)


def _as_sent(data):
    """The body as it came: the request or response is parsed here, once, with orjson."""
    return data


def _request_columns(payload: dict) -> tuple[dict[str, list], int]:
    if "instances" in payload:
        return _v1_columns(payload["instances"])
    if "inputs" in payload:
        return _v2_columns(payload["inputs"])
    raise EventError("body", 'body: a request has "instances" (v1) or "inputs" (v2)')


def _v1_columns(instances) -> tuple[dict[str, list], int]:
    if not isinstance(instances, list) or not instances:
        raise EventError("body", '"instances": expected a non-empty list of feature objects')
    first = instances[0]
    if not isinstance(first, dict) or not first:
        raise EventError("body", "instances[0]: expected an object of features")
    names = tuple(first)
    columns: dict[str, list] = {name: [] for name in names}
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict) or len(instance) != len(names):
            raise EventError("body", f"instances[{i}]: expected an object of {len(names)} features")
        try:
            for name in names:
                value = instance[name]
                if not isinstance(value, SCALARS):
                    raise EventError("body", f"instances[{i}].{name}: expected one value")
                columns[name].append(value)
        except KeyError as exc:
            raise EventError("body", f"instances[{i}]: no feature {exc.args[0]!r}") from None
    return columns, len(instances)


def _v2_columns(inputs) -> tuple[dict[str, list], int]:
    if not isinstance(inputs, list) or not inputs:
        raise EventError("body", '"inputs": expected a non-empty list of tensors')
    columns: dict[str, list] = {}
    rows = None
    for i, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise EventError("body", f"inputs[{i}]: expected a tensor with a name")
        data = tensor.get("data")
        if not isinstance(data, list) or not all(isinstance(v, SCALARS) for v in data):
            raise EventError(
                "body", f"inputs[{i}] ({tensor['name']}): expected flat data, one value per row"
            )
        if rows is not None and len(data) != rows:
            raise EventError(
                "body", f"inputs[{i}] ({tensor['name']}): {len(data)} values, expected {rows}"
            )
        rows = len(data)
        columns[tensor["name"]] = data
    if not rows:
        raise EventError("body", '"inputs": no rows')
    return columns, rows


def _response(event_id: str, payload: dict) -> LoggedResponse:
    if "predictions" in payload:
        scores = payload["predictions"]
        where = '"predictions"'
    elif "outputs" in payload:
        outputs = payload["outputs"]
        found = (
            [o for o in outputs if isinstance(o, dict) and o.get("name") == OUTPUT_NAME]
            if isinstance(outputs, list)
            else []
        )
        if not found:
            raise EventError("body", f'"outputs": no output named {OUTPUT_NAME!r}')
        scores, where = found[0].get("data"), f"outputs.{OUTPUT_NAME}.data"
    else:
        raise EventError("body", 'body: a response has "predictions" (v1) or "outputs" (v2)')
    if not isinstance(scores, list) or not all(
        isinstance(s, int | float) and not isinstance(s, bool) for s in scores
    ):
        raise EventError("body", f"{where}: expected a list of scores")
    name, version = payload.get("model_name"), payload.get("model_version")
    if not isinstance(name, str) or not name:
        raise EventError("body", "model_name: expected the name of the model that answered")
    if version is not None and not isinstance(version, str):
        raise EventError("body", f"model_version: expected a string, got {version!r}")
    return LoggedResponse(event_id, name, version or UNREGISTERED, [float(s) for s in scores])
