"""Load an exported model directory (ONNX + metadata.json) and score with onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from components.base.contract.layout import FeatureLayout, Lookup
from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import UNREGISTERED, UNSEEN_OUTPUT
from components.base.contract.packed_graph import (
    CODES_INPUT,
    NUMBERS_INPUT,
    TEXT_INPUT,
    coded_graph,
    fed_inputs,
    packed_graph,
)

LEGACY_INPUTS = ("categorical", "numeric")
"""The graph's inputs before it took raw features: int64 codes [rows, categorical] (value i
of a vocabulary is code i + 1, 0 unseen) and float32 [rows, numeric], NaN for missing."""


class ModelArtifact:
    def __init__(self, directory: Path | str, threads: int = 1, codes: bool = False):
        """`codes`: also take the categories as codes (`lookups`), as batch inference feeds
        them; a server, which is sent text, leaves it off and holds one session."""
        import onnx
        import onnxruntime as ort

        self.directory = Path(directory)
        self.metadata = ModelMetadata.read(self.directory)
        self.layout = FeatureLayout.from_metadata(self.metadata)
        path = self.directory / self.metadata.model_file
        graph = onnx.load(str(path))
        inputs = [i.name for i in fed_inputs(graph.graph)]
        self.legacy = inputs == list(LEGACY_INPUTS)
        """Exported before graphs took raw features: category codes and a numeric matrix,
        encoded here. Still served and compared with, so that a champion registered then
        neither stops the pipeline's gate nor a server."""
        if not self.legacy:
            if inputs != self.layout.features:
                raise ValueError(
                    f"{path}: the graph's inputs are {inputs}, neither the features by name "
                    f"nor {list(LEGACY_INPUTS)}"
                )
            graph = packed_graph(graph, self.layout)  # the same graph fed two matrices
        self.lookups: list[Lookup] | None = None
        """With `codes`, each categorical feature's vocabulary as the graph looks it up (a
        legacy graph: as the metadata's codes), for a caller that feeds codes
        (`predict_arrays`); None without, or where the graph reads its text otherwise."""
        coded = None
        if codes and self.legacy:
            self.lookups = self.layout.lookups
        elif codes and (found := coded_graph(graph, self.layout)) is not None:
            coded, self.lookups = found
        self._options = ort.SessionOptions()
        self._options.intra_op_num_threads = threads
        self._options.inter_op_num_threads = 1
        # Between calls a pool's threads sleep rather than spin: a session on more than one
        # thread (the batch benchmark's whole-file path) leaves the cores to the work between.
        self._options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = self._session(graph)
        self._coded_session = None if coded is None else self._session(coded)
        self._outputs = (
            [self.metadata.output] if self.legacy else [self.metadata.output, UNSEEN_OUTPUT]
        )
        # One set of run options for every call: without it, each call builds its own (a
        # tenth of a one-row call).
        self._run_options = ort.RunOptions()

    def _session(self, graph):
        import onnxruntime as ort

        return ort.InferenceSession(
            graph.SerializeToString(), self._options, providers=["CPUExecutionProvider"]
        )

    @property
    def threshold(self) -> float:
        return float(self.metadata.threshold)

    @property
    def version(self) -> str:
        return str(self.metadata.model_version or UNREGISTERED)

    def predict_arrays(
        self, categorical: np.ndarray, numeric: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and the graph's `unseen` bits, both [rows], for float32 [rows,
        numeric] and the categories [rows, categorical]: as text (`FeatureLayout.arrays`),
        or as integer codes, each column as its `lookups` entry codes it."""
        coded = np.issubdtype(categorical.dtype, np.integer)
        if coded:
            if self.lookups is None:
                raise ValueError(
                    f"{self.directory}: codes need `codes=True` and a graph that looks each "
                    "category up with one LabelEncoder (`lookups` is None)"
                )
            categorical = categorical.astype(np.int64, copy=False)  # the graph's codes
        if self.legacy:
            if coded:
                codes = categorical
            else:
                text = dict(zip(self.layout.categorical, categorical.T, strict=True))
                codes = self.layout.encode_categorical(text)
            feed = dict(zip(LEGACY_INPUTS, (codes, numeric), strict=True))
            (probability,) = self.session.run(self._outputs, feed, self._run_options)
            return probability, ((codes == 0) * self.layout.unseen_bits).sum(axis=1)
        if coded:
            feed = {CODES_INPUT: categorical, NUMBERS_INPUT: numeric}
            probability, unseen = self._coded_session.run(self._outputs, feed, self._run_options)
        else:
            feed = {TEXT_INPUT: categorical, NUMBERS_INPUT: numeric}
            probability, unseen = self.session.run(self._outputs, feed, self._run_options)
        return probability, unseen

    def predict_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
        """Probabilities for a frame of features, and per feature the unseen categories."""
        missing = self.layout.missing(frame.columns)
        if missing:
            raise KeyError(f"missing feature column(s) {missing}")
        probability, unseen = self.predict_arrays(*self.layout.arrays(frame))
        return probability, self.layout.unseen_counts(unseen)
