"""OIP v2 model metadata with what KServe leaves blank filled in: `versions` (the version
served) and `platform` (the runtime, `onnxruntime_onnx`). KServe answers `"versions":
null` and `"platform": ""` for every model, over REST and gRPC alike."""

from __future__ import annotations


async def model_metadata(dataplane, model_name: str) -> dict:
    metadata = await dataplane.model_metadata(model_name)
    model = dataplane.get_model_from_registry(model_name)
    version = getattr(model, "version", None)
    return {
        **metadata,
        "versions": [version] if version else [],
        "platform": getattr(model, "platform", "") or "",
    }
