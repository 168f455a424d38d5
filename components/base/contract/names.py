"""The names the contract is known by, each defined once."""

MODEL_NAME = "sluice-flights"
"""The registered model, and the name the servers answer to."""
FEATURE_SERVICE = "flight_delay_v1"
"""The Feast feature service the model is trained and served with."""
MODEL_FILE = "model.onnx"
METADATA_FILE = "metadata.json"
OUTPUT_NAME = "probability"
"""The graph's first output, float32 [rows]. Its inputs are the raw features by name
(`FeatureLayout`)."""
DECISION_NAME = "delayed"
"""The decision at the model's threshold, as the servers answer it and `sluice predict`
writes it. The training label has the same name (`components.flights.schema.LABEL`), so a
labelled file scored by `sluice predict` must name its decision otherwise."""
UNSEEN_OUTPUT = "unseen"
"""The graph's second output, int64 [rows]: bit j set where categorical feature j (metadata
order) was not in its vocabulary, so a server counts unseen values without a second lookup."""
PLATFORM = "onnxruntime_onnx"
"""The runtime, as the Open Inference Protocol's model metadata names it."""
UNREGISTERED = "unregistered"
"""The version of a model served from a directory that no registry has numbered."""
QUARANTINE_ROW = "_row"
"""A quarantined row's position in its source, counted from 0: the first column of the
rows `validate` and `sluice predict --quarantine` set aside."""
QUARANTINE_REASONS = "_reasons"
"""The second: every rule the row breaks, `; `-separated."""


def version_directory(model_name: str, version: str) -> str:
    """The folder a registered version is downloaded into, under a models directory: where
    a local server caches it and where the drift service looks for its reference."""
    return f"{model_name}-{version}"
