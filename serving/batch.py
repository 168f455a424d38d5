"""Batch inference: a Parquet file in, a Parquet file out, streamed in record batches
through the same checks and the same model call as the server. A thread reads and decodes
the next batches while this one scores, and another encodes and writes the last ones, so the
three overlap on a few cores and memory holds a few batches, not the file."""

from __future__ import annotations

import os
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.base.contract.artifact import ModelArtifact
from serving.arrow_inputs import batch_arrays
from serving.overlap import WriteBehind, read_ahead
from serving.request_rules import RequestRules

BATCH_ROWS = 65_536
"""Rows per record batch: large enough that each model call and each row group costs
little over its rows, small enough that the stages overlap over most of a file."""
DEPTH = 2
"""Batches read ahead of the model, and batches waiting to be written."""
SCORES = (pa.field("probability", pa.float32()), pa.field("delayed", pa.bool_()))


def batch_model(directory: Path) -> ModelArtifact:
    """The model as `sluice predict` scores with it: onnxruntime on every CPU this process
    may run on (as `taskset` or a container's cpuset sets them). The network is most of the work
    (full data, 2 cores: streamed 0.36M rows/s with one model thread, 0.48M with two), and
    its threads sleep between calls, leaving the cores to the reading and writing threads
    (0.42M when they spin)."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
    return ModelArtifact(directory, threads=len(usable) or os.cpu_count() or 1)


@dataclass
class BatchResult:
    rows: int
    seconds: float
    unseen: dict[str, int]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def predict_file(
    model: ModelArtifact, source: Path, destination: Path, batch_rows: int = BATCH_ROWS
) -> BatchResult:
    """Adds `probability` and `delayed` to every input row. A missing feature column, or a
    value the server would refuse, stops the run with the column and row named, and leaves
    `destination` as it was: the output is written beside it and moved there at the end."""
    started = time.perf_counter()
    layout = model.layout
    partial = destination.with_name(f".{destination.name}.partial")
    rows, unseen = 0, Counter(dict.fromkeys(layout.categorical, 0))
    try:
        with pq.ParquetFile(source) as file:
            missing = layout.missing(file.schema_arrow.names)
            if missing:
                raise KeyError(f"{source}: missing feature column(s) {missing}")
            rules = RequestRules.from_metadata(model.metadata, max_batch_rows=batch_rows)
            schema = file.schema_arrow.append(SCORES[0]).append(SCORES[1])
            decoded = (
                (batch, *batch_arrays(layout, batch))
                for batch in file.iter_batches(batch_size=batch_rows)
            )
            with (
                pq.ParquetWriter(partial, schema) as parquet,
                WriteBehind(parquet.write_batch, DEPTH) as output,
                closing(read_ahead(decoded, DEPTH)) as batches,  # stopped before the file closes
            ):
                for batch, categorical, numeric in batches:
                    rules.check_numeric(numeric, first_row=rows)
                    probability, bits = model.predict_arrays(categorical, numeric)
                    output.put(_scored(batch, probability, model.threshold, schema))
                    unseen.update(layout.unseen_counts(bits))
                    rows += batch.num_rows
        partial.replace(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BatchResult(rows, time.perf_counter() - started, dict(unseen))


def _scored(
    batch: pa.RecordBatch, probability: np.ndarray, threshold: float, schema: pa.Schema
) -> pa.RecordBatch:
    """The input batch as it was, with the probability and the decision at the threshold."""
    scores = (
        pa.array(probability.astype(np.float32, copy=False)),
        pa.array(probability >= threshold),
    )
    return pa.RecordBatch.from_arrays([*batch.columns, *scores], schema=schema)
