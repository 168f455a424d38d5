"""Turn feature records into the model's two input tensors, from the artifact metadata alone.

Training, evaluation, batch inference and the model server all encode through here, so the
category indexing the model learned is the one it is served with. Index 0 of every
vocabulary is the out-of-vocabulary bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class FeatureLayout:
    categorical: list[str]
    numeric: list[str]
    vocabularies: dict[str, list[str]]

    @classmethod
    def from_metadata(cls, metadata: dict) -> FeatureLayout:
        return cls(
            categorical=list(metadata["categorical"]),
            numeric=list(metadata["numeric"]),
            vocabularies={k: list(v) for k, v in metadata["vocabularies"].items()},
        )

    @property
    def features(self) -> list[str]:
        return [*self.categorical, *self.numeric]

    def missing(self, columns) -> list[str]:
        present = set(columns)
        return [f for f in self.features if f not in present]

    def encode_categorical(self, frame: pd.DataFrame) -> tuple[np.ndarray, dict[str, int]]:
        """Category indices, int64 [rows, categorical], and per feature how many values
        were unseen in training (they go to bucket 0)."""
        out = np.zeros((len(frame), len(self.categorical)), dtype=np.int64)
        unseen: dict[str, int] = {}
        for j, name in enumerate(self.categorical):
            index = self._indexes[name]
            codes = index.get_indexer(frame[name].astype("string").fillna("")) + 1
            unseen[name] = int((codes == 0).sum())
            out[:, j] = codes
        return out, unseen

    @cached_property
    def _indexes(self) -> dict[str, pd.Index]:
        return {name: pd.Index(values) for name, values in self.vocabularies.items()}

    def numeric_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw numeric values, float32 [rows, numeric]; NaN marks a missing value (the
        model normalises and imputes inside its graph)."""
        return frame[self.numeric].to_numpy(dtype=np.float32, na_value=np.nan)
