"""The names the contract is known by, each defined once."""

MODEL_NAME = "sluice-flights"
"""The registered model, and the name the servers answer to."""
FEATURE_SERVICE = "flight_delay_v1"
"""The Feast feature service the model is trained and served with."""
MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
INPUT_NAMES = ("categorical", "numeric")
"""The ONNX graph's inputs: int64 [rows, categorical] codes, float32 [rows, numeric] values."""
OUTPUT_NAME = "probability"
PLATFORM = "onnxruntime_onnx"
"""The runtime, as the Open Inference Protocol's model metadata names it."""
UNREGISTERED = "unregistered"
"""The version of a model served from a directory that no registry has numbered."""


def version_directory(model_name: str, version: str) -> str:
    """The folder a registered version is downloaded into, under a models directory: where
    a local server caches it and where the drift service looks for its reference."""
    return f"{model_name}-{version}"
