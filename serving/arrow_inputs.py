"""The model's inputs straight from an Arrow record batch, without pandas: the same two
matrices `FeatureLayout.arrays` makes from a frame, value for value, at a fraction of the
cost (a frame of the full flights file costs more to build than the model's forward pass)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.base.contract.layout import FeatureLayout, Lookup, text_values
from serving.request_errors import RequestError


def batch_arrays(
    layout: FeatureLayout,
    batch: pa.RecordBatch,
    stored: pa.Schema | None = None,
    lookups: list[Lookup] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The categories, and float32 [rows, numeric] (NaN for null). The categories are text,
    object [rows, categorical], or with `lookups` (`ModelArtifact.lookups`) their codes,
    int64: each distinct value looked up once. Each matrix is a transposed view of one
    column per feature, so that each feature the graph reads by name (`FeatureLayout.feed`)
    is contiguous. `stored`: the types the file holds, where they are not the batch's (text
    read as dictionaries), so that a null reads as the file's column would."""
    rows = batch.num_rows
    element = object if lookups is None else np.int64  # text, or codes
    categorical = np.empty((len(layout.categorical), rows), dtype=element)
    for i, name in enumerate(layout.categorical):
        kind = (stored or batch.schema).field(name).type
        words, indices = _distinct(
            batch.column(name), "nan" if pa.types.is_dictionary(kind) else "None"
        )
        if lookups is None:
            categorical[i] = np.array(words, dtype=object)[indices]
        else:
            categorical[i] = lookups[i].encode(words)[indices]
    numeric = np.empty((len(layout.numeric), rows), dtype=np.float32)
    for i, name in enumerate(layout.numeric):
        try:
            numeric[i] = batch.column(name).to_numpy(zero_copy_only=False)
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise RequestError("datatype", f"feature {name!r}: expected numbers: {exc}") from None
    return categorical.T, numeric.T


def _distinct(values: pa.Array, null: str) -> tuple[list[str], np.ndarray]:
    """A column as str values and each row's index among them, as `text_values` writes a
    frame's (a null reads `null`: a frame holds None for a text column's, NaN for a
    Categorical's). Text goes through its few distinct values, so that each row costs an
    index rather than a new str: the dictionary it was read as (`predict_file` reads text
    features so, as Parquet stores them), or the one made here; any other type goes the
    way of a frame, a value a row."""
    if pa.types.is_dictionary(values.type) and is_text(values.type.value_type):
        dictionary, indices = values.dictionary, values.indices
    elif is_text(values.type):
        encoded = pc.dictionary_encode(values)
        dictionary, indices = encoded.dictionary, encoded.indices
    else:
        return text_values(values.to_pandas()), np.arange(len(values))
    words = [*text_values(dictionary.to_pylist()), null]
    # int32: a null's index, one past the dictionary, may not fit the file's (int8 for
    # up to 128 categories)
    return words, indices.cast(pa.int32()).fill_null(len(dictionary)).to_numpy()


def is_text(kind: pa.DataType) -> bool:
    """Arrow's text types, which Parquet stores as dictionaries of byte arrays."""
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)
