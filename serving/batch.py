"""Batch inference: a Parquet file in, a Parquet file out, scored in one vectorised pass
through the same feature encoding and checks as the server."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.base.contract.artifact import ModelArtifact
from serving.request_rules import RequestRules


@dataclass
class BatchResult:
    rows: int
    seconds: float
    unseen: dict[str, int]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def predict_file(model: ModelArtifact, source: Path, destination: Path) -> BatchResult:
    """Adds `probability` and `delayed` to every input row. A missing feature column, or a
    value the server would refuse, stops the run with the column and row named."""
    started = time.perf_counter()
    table = pq.read_table(source)
    missing = model.layout.missing(table.column_names)
    if missing:
        raise KeyError(f"{source}: missing feature column(s) {missing}")
    frame = table.select(model.layout.features).to_pandas()
    rules = RequestRules.from_metadata(model.metadata, max_batch_rows=len(frame) or 1)
    categorical, numeric = model.layout.arrays(frame)
    rules.check_numeric(numeric)
    probability, unseen = model.predict_arrays(categorical, numeric)
    table = table.append_column("probability", pa.array(probability.astype(np.float32)))
    table = table.append_column("delayed", pa.array(probability >= model.threshold))
    pq.write_table(table, destination)
    seconds = time.perf_counter() - started
    return BatchResult(len(frame), seconds, model.layout.unseen_counts(unseen))
