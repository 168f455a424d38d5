"""The model's inputs straight from an Arrow record batch, without pandas: the same two
matrices `FeatureLayout.arrays` makes from a frame, value for value, at a fraction of the
cost (a frame of the full flights file costs more to build than the model's forward pass)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.base.contract.layout import FeatureLayout, text_values
from serving.request_errors import RequestError


def batch_arrays(layout: FeatureLayout, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
    """Text, object [rows, categorical], and float32 [rows, numeric] (NaN for null). Each
    matrix is a transposed view of one column per feature, so that each feature the graph
    reads by name (`FeatureLayout.feed`) is contiguous."""
    text = np.empty((len(layout.categorical), batch.num_rows), dtype=object)
    for i, name in enumerate(layout.categorical):
        text[i] = _text_column(batch.column(name))
    numeric = np.empty((len(layout.numeric), batch.num_rows), dtype=np.float32)
    for i, name in enumerate(layout.numeric):
        try:
            numeric[i] = batch.column(name).to_numpy(zero_copy_only=False)
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise RequestError("datatype", f"feature {name!r}: expected numbers: {exc}") from None
    return text.T, numeric.T


def _text_column(values: pa.Array) -> np.ndarray:
    """A column as str objects, as `text_values` writes them (a null reads "None"). A text
    column is looked up through its few distinct values, so that each row costs a pointer
    copy rather than a new str; any other type goes the way of a frame, for the same text."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return np.array(text_values(values.to_pandas()), dtype=object)
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    words = np.array(text_values(encoded.dictionary.to_pylist()), dtype=object)
    return words[encoded.indices.to_numpy()]
