"""OIP v2 gRPC without the detour through `InferRequest`: models that read protobuf get the
request message itself.

KServe's servicer turns every `ModelInferRequest` into an `InferRequest` (numpy per input)
before the model sees it. For a request of one small input per feature that conversion costs
several times the model call, and on a one-core server every microsecond of it is
throughput. A model that sets `reads_grpc_messages` decodes the message itself and answers
with a `ModelInferResponse`, which KServe's servicer already passes through as it is. Every
other model, and everything else about the call (interceptors, errors, KServe's latency
histograms in `Model.__call__`), stays KServe's. Model metadata names the version served
and the runtime (`serving.oip_metadata`); server readiness asks each model whether it is
available (`serving.online_store`).
"""

from __future__ import annotations

import kserve.protocol.grpc.server as kserve_grpc
from grpc import ServicerContext
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.utils.utils import to_headers

from serving.oip_metadata import model_metadata
from serving.online_store import models_available


class MessageInferenceServicer(InferenceServicer):
    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: ServicerContext
    ) -> pb.ServerReadyResponse:
        ready = await self._data_plane.ready()
        models = self._data_plane.model_registry.get_models().values()
        return pb.ServerReadyResponse(ready=ready and models_available(models))

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: ServicerContext
    ) -> pb.ModelMetadataResponse:
        return pb.ModelMetadataResponse(**await model_metadata(self._data_plane, request.name))

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: ServicerContext
    ) -> pb.ModelInferResponse:
        model = self._data_plane.get_model_from_registry(request.model_name)
        if not getattr(model, "reads_grpc_messages", False):
            return await super().ModelInfer(request, context)
        self.validate_grpc_request(request)
        response, _ = await self._data_plane.infer(
            model_name=request.model_name, request=request, headers=to_headers(context)
        )
        return response


def install() -> None:
    """KServe builds its servicer from its gRPC server module's namespace when the server
    starts and offers no hook, so ours goes there first."""
    kserve_grpc.InferenceServicer = MessageInferenceServicer
