"""Load an exported model directory (ONNX + metadata.json) and score with onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from serving.features import FeatureLayout

METADATA_FILE = "metadata.json"
# Where MLflow's `log_model(extra_files=...)` puts the metadata in a downloaded model.
_METADATA_PLACES = (METADATA_FILE, f"extra_files/{METADATA_FILE}")


class ModelArtifact:
    def __init__(self, directory: Path | str, threads: int = 1):
        import onnxruntime as ort

        self.directory = Path(directory)
        metadata_path = next(
            (self.directory / p for p in _METADATA_PLACES if (self.directory / p).is_file()), None
        )
        if metadata_path is None:
            raise FileNotFoundError(f"no {METADATA_FILE} in model directory {self.directory}")
        self.metadata: dict = json.loads(metadata_path.read_text())
        self.layout = FeatureLayout.from_metadata(self.metadata)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.directory / self.metadata["model_file"]),
            options,
            providers=["CPUExecutionProvider"],
        )
        self._outputs = [self.metadata["output"]]
        # One set of run options for every call: without it, each call builds its own (a
        # tenth of a one-row call).
        self._run_options = ort.RunOptions()

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])

    @property
    def version(self) -> str:
        return str(self.metadata.get("model_version", "unregistered"))

    def predict_arrays(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        return self.session.run(
            self._outputs, {"categorical": categorical, "numeric": numeric}, self._run_options
        )[0]

    def predict_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
        """Probabilities for a frame of features, and per feature the unseen categories."""
        missing = self.layout.missing(frame.columns)
        if missing:
            raise KeyError(f"missing feature column(s) {missing}")
        categorical, unseen = self.layout.encode_categorical(frame)
        return self.predict_arrays(categorical, self.layout.numeric_matrix(frame)), unseen
