"""A small model's request rules, and requests for it, shared by the decoder tests."""

import numpy as np
from kserve.protocol.infer_type import InferInput, InferRequest

from components.base.contract.metadata import ModelMetadata
from serving.decode_v2 import V2Decoder
from serving.request_rules import RequestRules

METADATA = ModelMetadata(
    features=["carrier", "origin", "hour", "distance", "temp"],
    categorical=["carrier", "origin"],
    numeric=["hour", "distance", "temp"],
    vocabularies={"carrier": ["AA", "UA"], "origin": ["EWR", "JFK", "LGA"]},
    threshold=0.5,
    label="delayed",
    time_split={},
    valid_ranges={"hour": [0, 23], "distance": [1, 5000], "temp": [-40, 120]},
    required=["carrier", "origin", "hour", "distance"],
)
RULES = RequestRules.from_metadata(METADATA, max_batch_rows=100)
V2 = V2Decoder(RULES)
ROWS = [
    {"carrier": "UA", "origin": "JFK", "hour": 9, "distance": 1000, "temp": 55.5},
    {"carrier": "ZZ", "origin": "EWR", "hour": 23, "distance": 17, "temp": None},
]
TEXT = np.array([["UA", "JFK"], ["ZZ", "EWR"]], dtype=object)
"""ROWS' categories as the model reads them."""
CODES = np.array([[2, 2], [0, 1]])
"""The same as vocabulary codes (a single tensor sends these); 0: unseen, which reads back
as the empty text."""
NUMBERS = np.array([[9, 1000, 55.5], [23, 17, np.nan]], np.float32)


def v2_request(rows=ROWS, **change):
    inputs = []
    for name in [*METADATA.categorical, *METADATA.numeric]:
        values = [row[name] for row in rows]
        if name in METADATA.categorical:
            inputs.append(InferInput(name, [len(rows)], "BYTES", [v.encode() for v in values]))
        else:
            inputs.append(InferInput(name, [len(rows)], "FP32", values))
    for name, replacement in change.items():
        index = next(i for i, item in enumerate(inputs) if item.name == name)
        if replacement is None:
            inputs.pop(index)
        else:
            inputs[index] = replacement
    return InferRequest("m", inputs)
