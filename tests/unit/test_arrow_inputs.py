"""The model's inputs read from Arrow without pandas are the ones a frame of the same batch
gives (`FeatureLayout.arrays`), whatever types the Parquet file holds: the graph then sees
the same text and numbers, and counts the same values as unseen."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from components.base.contract.layout import FeatureLayout, Lookup
from serving.arrow_inputs import batch_arrays
from serving.request_errors import RequestError

LAYOUT = FeatureLayout(["carrier", "origin"], ["hour", "temp"], {"carrier": [], "origin": []})
NUMBERS = {
    "hour": pa.array([5, None, 23, 0], pa.int64()),
    "temp": pa.array([1.5, 2.25, None, -3.0], pa.float64()),
}


TEXTS = pytest.mark.parametrize(
    "text",
    [
        pa.array(["UA", None, "AA", "UA"], pa.string()),
        pa.array(["UA", None, "AA", "UA"], pa.large_string()),
        pa.array(["UA", None, "AA", "UA"]).dictionary_encode(),  # a pandas Categorical
        pa.array(["UA", None, "AA", "UA"], pa.large_string()).dictionary_encode(),
        pa.array([7, None, 7, 12], pa.int64()),  # codes written as numbers
    ],
    ids=["string", "large_string", "dictionary", "large_string dictionary", "int64"],
)
LOOKUPS = [
    Lookup({"UA": 1, "AA": 2, "7": 3, "None": 4, "nan": 5, "7.0": 6}, 0),
    Lookup({"AA": 7, "UA": 8, "12": 9}, -1),
]
"""Codes that tell every text a frame could give apart, a null's two words included."""


@TEXTS
def test_arrow_gives_the_inputs_a_frame_of_the_same_batch_gives(text):
    batch = pa.RecordBatch.from_pydict({"carrier": text, "origin": text, **NUMBERS})

    categorical, numeric = batch_arrays(LAYOUT, batch)

    expected_categorical, expected_numeric = LAYOUT.arrays(batch.to_pandas())
    assert categorical.dtype == object and numeric.dtype == np.float32
    assert categorical.tolist() == expected_categorical.tolist()
    assert all(type(v) is str for v in categorical.ravel())  # what onnxruntime takes as text
    np.testing.assert_array_equal(numeric, expected_numeric)  # NaN where null


@TEXTS
def test_codes_are_the_lookups_of_the_text_a_frame_gives(text):
    batch = pa.RecordBatch.from_pydict({"carrier": text, "origin": text, **NUMBERS})

    codes, numeric = batch_arrays(LAYOUT, batch, lookups=LOOKUPS)

    expected_text, expected_numeric = LAYOUT.arrays(batch.to_pandas())
    assert codes.dtype == np.int64
    expected = [
        [look.codes.get(v, look.default) for look, v in zip(LOOKUPS, row, strict=True)]
        for row in expected_text
    ]
    assert codes.tolist() == expected
    assert len({tuple(row) for row in expected}) == 3  # UA, AA and the null told apart
    np.testing.assert_array_equal(numeric, expected_numeric)


def test_a_string_column_is_read_as_the_vocabulary_wrote_it():
    batch = pa.RecordBatch.from_pydict(
        {"carrier": ["UA", None], "origin": ["", "JFK"], "hour": [1.0, 2.0], "temp": [3, 4]}
    )
    categorical, numeric = batch_arrays(LAYOUT, batch)
    assert categorical.tolist() == [["UA", ""], ["None", "JFK"]]
    assert numeric.tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_text_where_a_number_belongs_names_the_feature():
    batch = pa.RecordBatch.from_pydict(
        {"carrier": ["UA"], "origin": ["JFK"], "hour": ["noon"], "temp": [3.0]}
    )
    with pytest.raises(RequestError, match="feature 'hour': expected numbers.*noon"):
        batch_arrays(LAYOUT, batch)


def test_text_read_as_a_dictionary_reads_as_the_text_column_the_file_holds():
    """`predict_file` reads text features as dictionaries: a null still reads "None", as
    the file's text column gives a frame, not "nan" as a Categorical would."""
    text = pa.array(["UA", None, "AA", "UA"])
    stored = pa.RecordBatch.from_pydict({"carrier": text, "origin": text, **NUMBERS})
    read = pa.RecordBatch.from_pydict(
        {"carrier": text.dictionary_encode(), "origin": text.dictionary_encode(), **NUMBERS}
    )

    categorical, _ = batch_arrays(LAYOUT, read, stored.schema)

    assert categorical.tolist() == LAYOUT.arrays(stored.to_pandas())[0].tolist()
    assert categorical[1].tolist() == ["None", "None"]
    assert batch_arrays(LAYOUT, read)[0][1].tolist() == ["nan", "nan"]  # a Categorical's


def test_a_null_in_a_full_small_dictionary_reads_as_a_frame_reads_it():
    """128 categories with int8 indices (a pandas Categorical's): a null's index, one past
    the dictionary, does not fit int8."""
    words = [f"C{i}" for i in range(128)]
    codes = pa.DictionaryArray.from_arrays(pa.array([127, None, 0, 5], pa.int8()), words)
    batch = pa.RecordBatch.from_pydict({"carrier": codes, "origin": codes, **NUMBERS})

    categorical, _ = batch_arrays(LAYOUT, batch)

    assert categorical.tolist() == LAYOUT.arrays(batch.to_pandas())[0].tolist()
    assert categorical[:, 0].tolist() == ["C127", "nan", "C0", "C5"]
