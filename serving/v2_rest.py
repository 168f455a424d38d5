"""OIP v2 REST as sluice serves it: request bodies read by sluice rather than by FastAPI,
and the versioned routes answered.

KServe declares the body of its v2 infer route as `InferenceRequest | bytes`, so FastAPI
parses and validates the body before KServe's handler runs. Two things follow:
- a body that is not JSON, or not the v2 schema, is answered 422 with pydantic's report,
  where a client error here is a 400 whose message names the field;
- every request pays for the stdlib JSON parse, the pydantic model and KServe's
  `InferRequest` conversion. For a request of one small input per feature these cost more
  than the model's whole decode, and on a one-core server every microsecond is throughput.

This route takes the body as bytes:
- a binary-extension body (`inference-header-content-length`) or one that is not JSON goes
  on as bytes, which KServe reads (or refuses, saying what it needs);
- JSON is parsed with orjson. A model that sets `reads_rest_json` gets it as it is
  (`RestV2Body`) and decodes it itself, as it does gRPC messages (`serving.grpc_messages`);
  any other model gets it validated against KServe's schema.
The call goes on as KServe's handler makes it (readiness, decode, `Model.__call__`,
encode); a JSON answer is rendered straight from the response's dict (`infer`).

Model metadata names the version served and the runtime (`serving.oip_metadata`). Server
readiness also asks each model whether it is available (`serving.online_store`).

KServe answers every versioned route (`/v2/models/NAME/versions/V/...`) with a 500 (not
implemented). Here the version the model serves answers as the model does, and any other
is not found (404).
"""

from __future__ import annotations

import kserve.protocol.rest.v2_endpoints as kserve_v2
import orjson
from fastapi import Request, Response
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER, PredictorProtocol
from kserve.errors import ModelNotFound, ModelNotReady, ServerNotReady
from kserve.protocol.rest.v2_datamodels import ModelMetadataResponse, ServerReadyResponse

from serving.json_bodies import RestV2Body, parse_json_object, validated_v2_request
from serving.oip_metadata import model_metadata
from serving.online_store import models_available
from serving.request_errors import counted_client_errors

REST_V2 = PredictorProtocol.REST_V2.value


def is_json(content_type: str | None) -> bool:
    """As FastAPI decides whether to parse a body as JSON: no content type, or
    application/json or application/*+json, whatever the parameters."""
    if not content_type:
        return True
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


class SluiceV2Endpoints(kserve_v2.V2Endpoints):
    async def ready(self) -> ServerReadyResponse:
        """KServe's, and not ready while a model's dependency is down (Kubernetes probes it)."""
        answer = await super().ready()
        if not models_available(self.dataplane.model_registry.get_models().values()):
            raise ServerNotReady("a model's dependency is unavailable")
        return answer

    def _served(self, model_name: str, model_version: str | None):
        """The model behind a route; on a versioned route, only the version it serves."""
        model = self.dataplane.get_model_from_registry(model_name)
        if model_version is not None and model_version != getattr(model, "version", None):
            raise ModelNotFound(f"{model_name} version {model_version}")
        return model

    async def model_metadata(self, model_name: str, model_version: str | None = None):
        self._served(model_name, model_version)
        metadata = await model_metadata(self.dataplane, model_name)
        return ModelMetadataResponse.model_validate(metadata)

    async def model_ready(self, model_name: str, model_version: str | None = None):
        self._served(model_name, model_version)
        return await super().model_ready(model_name)

    async def infer(
        self,
        raw_request: Request,
        raw_response: Response,
        model_name: str,
        model_version: str | None = None,
    ):
        """KServe's handler, but a JSON answer goes out as the dict the model's response
        encodes to, rendered once by orjson: KServe validates it into its pydantic
        `InferenceResponse`, which FastAPI then walks back into a dict (`jsonable_encoder`)
        before rendering, about a tenth of a loaded server's CPU for a one-row answer. The
        dict is the response's own `to_rest()`, so the body says the same, less the
        `parameters: null` the pydantic model adds where there are none."""
        model = self._served(model_name, model_version)
        body = await raw_request.body()
        headers = raw_request.headers
        if INFERENCE_CONTENT_LENGTH_HEADER not in headers and is_json(headers.get("content-type")):
            with counted_client_errors():
                parsed = parse_json_object(body)
                body = (
                    RestV2Body(parsed)
                    if getattr(model, "reads_rest_json", False)
                    else validated_v2_request(parsed)
                )
        if not await self.dataplane.model_ready(model_name, True):
            raise ModelNotReady(model_name)
        request_headers = dict(headers)
        request, _ = self.dataplane.decode(
            body, request_headers, protocol_version=REST_V2, model_name=model_name
        )
        response, response_headers = await self.dataplane.infer(
            model_name=model_name, request=request, headers=request_headers
        )
        response, encoded_headers = self.dataplane.encode(
            model_name=model_name, response=response, headers=request_headers, req_attributes={}
        )
        response_headers.update(encoded_headers)
        response_headers.pop("content-length", None)
        response_headers.pop("content-type", None)
        if isinstance(response, bytes):  # KServe's binary data extension, as KServe answers it
            raw_response.headers.update(response_headers)
            raw_response.status_code, raw_response.body = 200, response
            return raw_response
        body = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
        return Response(body, media_type="application/json", headers=response_headers)


def install() -> None:
    """KServe builds its v2 routes from `V2Endpoints` in its module's namespace when the
    server starts and offers no hook, so ours goes there first."""
    kserve_v2.V2Endpoints = SluiceV2Endpoints
