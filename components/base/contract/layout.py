"""The model's features and how each is encoded, from the artifact metadata alone.

The exported graph takes the raw features, one input per feature by name: string [rows]
for a categorical feature, float32 [rows] for a numeric one (NaN: missing; the graph
imputes it). Inside, each categorical feature goes through its vocabulary: value i of the
vocabulary is code i + 1, and anything else is code 0, the out-of-vocabulary bucket.
Training encodes its arrays through the same codes (`encode_categorical`) and the export
writes them into the graph (`category_codes`), so the indexing the model learned is the one
it is served with.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from components.base.contract.metadata import ModelMetadata

UNSEEN_VALUE = ""
"""What code 0 reads back as (`category_values`): never in a vocabulary, so the graph puts
it in the out-of-vocabulary bucket."""


@dataclass(frozen=True)
class Lookup:
    """One categorical feature's vocabulary as a graph's LabelEncoder holds it (or the
    layout's own, `FeatureLayout.lookups`): each text its code, anything else `default`."""

    codes: dict[str, int]
    default: int

    def encode(self, words: list[str]) -> np.ndarray:
        """int64 codes of `words`, as the LabelEncoder gives them."""
        return np.array([self.codes.get(w, self.default) for w in words], dtype=np.int64)


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

    @cached_property
    def category_codes(self) -> dict[str, dict[str, int]]:
        """Per categorical feature, value → code (1-based; 0, unseen, is not listed)."""
        return {
            name: {value: i + 1 for i, value in enumerate(self.vocabularies[name])}
            for name in self.categorical
        }

    @cached_property
    def lookups(self) -> list[Lookup]:
        """`category_codes` as each feature's `Lookup`: anything else is code 0."""
        return [Lookup(self.category_codes[name], 0) for name in self.categorical]

    def encode_categorical(self, columns) -> np.ndarray:
        """Category codes, int64 [rows, categorical], from a frame or a mapping of column
        name to values: what the training loop feeds the net."""
        codes = [
            lookup.encode(text_values(columns[name]))
            for name, lookup in zip(self.categorical, self.lookups, strict=True)
        ]
        return np.array(codes, dtype=np.int64).T.copy()

    @cached_property
    def category_values(self) -> dict[str, np.ndarray]:
        """Per categorical feature, code → value (object array; code 0 is `UNSEEN_VALUE`)."""
        return {
            name: np.array([UNSEEN_VALUE, *self.vocabularies[name]], dtype=object)
            for name in self.categorical
        }

    def numeric_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Raw numeric values, float32 [rows, numeric]; NaN marks a missing value (the
        model normalises and imputes inside its graph)."""
        return frame[self.numeric].to_numpy(dtype=np.float32, na_value=np.nan)

    def text_matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Categorical values as text, object [rows, categorical]: what the graph reads. A
        null becomes "None" or "nan", which no vocabulary holds (`Preprocessing.fit`
        drops nulls), so it lands in the unseen bucket as it did as a code."""
        return np.array([text_values(frame[name]) for name in self.categorical], dtype=object).T

    def arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The model's inputs as two matrices, text and float32, rows first: the form
        requests are validated and batched in."""
        return self.text_matrix(frame), self.numeric_matrix(frame)

    def feed(self, categorical: np.ndarray, numeric: np.ndarray) -> dict[str, np.ndarray]:
        """The two matrices as the graph's inputs: each column under its feature's name (a
        view: onnxruntime reads strided arrays, and copying first costs a one-row call
        more than it saves)."""
        feed = dict(zip(self.categorical, categorical.T, strict=True))
        feed.update(zip(self.numeric, numeric.T, strict=True))
        return feed

    @cached_property
    def unseen_bits(self) -> np.ndarray:
        """int64 [categorical]: the bit of each categorical feature in the graph's `unseen`
        output."""
        return np.left_shift(1, np.arange(len(self.categorical), dtype=np.int64))

    def unseen_counts(self, unseen: np.ndarray) -> dict[str, int]:
        """Per categorical feature, how many rows of the graph's `unseen` output have its
        bit set."""
        flags = (unseen[:, None] & self.unseen_bits) != 0
        return dict(zip(self.categorical, flags.sum(axis=0).tolist(), strict=True))


def text_values(values) -> list:
    """A column as a list of str, as the vocabulary was written (`astype(str)`): what the
    graph reads for a categorical feature."""
    values = values.tolist() if hasattr(values, "tolist") else list(values)
    return [v if type(v) is str else str(v) for v in values]
