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

from components.base.contract.metadata import ModelMetadata


@dataclass(frozen=True)
class FeatureLayout:
    categorical: list[str]
    numeric: list[str]
    vocabularies: dict[str, list[str]]

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata) -> FeatureLayout:
        return cls(
            categorical=list(metadata.categorical),
            numeric=list(metadata.numeric),
            vocabularies={k: list(v) for k, v in metadata.vocabularies.items()},
        )

    @property
    def features(self) -> list[str]:
        return [*self.categorical, *self.numeric]

    def missing(self, columns) -> list[str]:
        present = set(columns)
        return [f for f in self.features if f not in present]

    def encode_categorical(self, columns) -> tuple[np.ndarray, dict[str, int]]:
        """Category indices, int64 [rows, categorical], from a frame or a mapping of column
        name to values; also per feature how many values were unseen in training (they go
        to bucket 0). Plain dict lookups over lists: cheap for one row, fast enough for
        millions."""
        codes, unseen = [], {}
        for name in self.categorical:
            lookup = self._lookups[name]
            values = columns[name]
            values = values.tolist() if hasattr(values, "tolist") else values
            column = [lookup.get(v, 0) for v in values]
            unseen[name] = column.count(0)
            codes.append(column)
        return np.array(codes, dtype=np.int64).T.copy(), unseen

    @cached_property
    def _lookups(self) -> dict[str, dict[str, int]]:
        return {
            name: {value: i + 1 for i, value in enumerate(values)}
            for name, values in self.vocabularies.items()
        }

    def numeric_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw numeric values, float32 [rows, numeric]; NaN marks a missing value (the
        model normalises and imputes inside its graph)."""
        return frame[self.numeric].to_numpy(dtype=np.float32, na_value=np.nan)
