"""`metadata.json`: what a server needs to serve the exported graph, and the lineage that
says where it came from. Training writes it; evaluation, registration and the servers read
it through `ModelMetadata`, so a key has one spelling."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from components.base.contract.names import METADATA_FILE, MODEL_FILE, OUTPUT_NAME

# Where MLflow's `log_model(extra_files=...)` puts the metadata in a downloaded model.
_PLACES = (METADATA_FILE, f"extra_files/{METADATA_FILE}")


@dataclass(frozen=True)
class ModelMetadata:
    features: list[str]
    """The model's input features, in order: categorical first, then numeric."""
    categorical: list[str]
    numeric: list[str]
    vocabularies: dict[str, list[str]]
    """Per categorical feature, its values in training; value i is code i + 1 (0: unseen)."""
    threshold: float
    """The decision threshold, chosen on validation (best F1)."""
    label: str
    time_split: dict[str, str]
    """`TimeSplit` fields: how train, validation and holdout were cut."""
    model_file: str = MODEL_FILE
    output: str = OUTPUT_NAME
    required: list[str] | None = None
    """Features that may not be null; None for the categorical ones (older artifacts)."""
    valid_ranges: dict[str, list[float]] = field(default_factory=dict)
    """[low, high] per numeric feature; a server refuses values outside."""
    reference_sample: dict[str, list] = field(default_factory=dict)
    """Training rows by feature, for registration's input example and drift detection."""
    score_reference: list[float] = field(default_factory=list)
    """The model's scores on a sample of the validation months, which training held out:
    what the drift service compares live scores with (a proxy for concept drift)."""
    horizon_minutes: float = 0.0
    """How long before the scheduled departure the model predicts: its features were read
    then in training, and a transformer reads them then (`features.parse_horizon`)."""
    model_version: str | None = None
    """The registry's version, where one is written into the artifact; a model served
    from a directory without it reports `unregistered`."""
    extra: dict = field(default_factory=dict)
    """Everything else (lineage, the training record, normalisation): kept, written back
    flat, and read by people rather than code."""

    def __post_init__(self):
        shadowed = sorted(set(self.extra) & {f.name for f in fields(self)})
        if shadowed:
            raise ValueError(f"{METADATA_FILE}: extra key(s) {shadowed} are fields of their own")

    @property
    def required_features(self) -> frozenset[str]:
        return frozenset(self.categorical if self.required is None else self.required)

    @classmethod
    def from_dict(cls, data: dict) -> ModelMetadata:
        names = {f.name for f in fields(cls)} - {"extra"}
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise ValueError(f"{METADATA_FILE}: missing key(s) {missing}")
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict:
        data = asdict(self)
        return {**data.pop("extra"), **data}

    @classmethod
    def read(cls, directory: Path | str) -> ModelMetadata:
        directory = Path(directory)
        path = next((directory / p for p in _PLACES if (directory / p).is_file()), None)
        if path is None:
            raise FileNotFoundError(f"no {METADATA_FILE} in model directory {directory}")
        return cls.from_dict(json.loads(path.read_text()))

    def write(self, directory: Path | str) -> Path:
        path = Path(directory) / METADATA_FILE
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str))
        return path


_REQUIRED = (
    "features",
    "categorical",
    "numeric",
    "vocabularies",
    "threshold",
    "label",
    "time_split",
)
