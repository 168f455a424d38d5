"""Load an exported model directory (ONNX + metadata.json) and score with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from components.base.contract.layout import FeatureLayout
from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import INPUT_NAMES, UNREGISTERED


class ModelArtifact:
    def __init__(self, directory: Path | str, threads: int = 1):
        import onnxruntime as ort

        self.directory = Path(directory)
        self.metadata = ModelMetadata.read(self.directory)
        self.layout = FeatureLayout.from_metadata(self.metadata)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.directory / self.metadata.model_file),
            options,
            providers=["CPUExecutionProvider"],
        )
        self._outputs = [self.metadata.output]
        self._categorical_input, self._numeric_input = INPUT_NAMES
        # One set of run options for every call: without it, each call builds its own (a
        # tenth of a one-row call).
        self._run_options = ort.RunOptions()

    @property
    def threshold(self) -> float:
        return float(self.metadata.threshold)

    @property
    def version(self) -> str:
        return str(self.metadata.model_version or UNREGISTERED)

    def predict_arrays(self, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
        inputs = {self._categorical_input: categorical, self._numeric_input: numeric}
        return self.session.run(self._outputs, inputs, self._run_options)[0]

    def predict_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
        """Probabilities for a frame of features, and per feature the unseen categories."""
        missing = self.layout.missing(frame.columns)
        if missing:
            raise KeyError(f"missing feature column(s) {missing}")
        categorical, unseen = self.layout.encode_categorical(frame)
        return self.predict_arrays(categorical, self.layout.numeric_matrix(frame)), unseen
