"""Batch inference: a Parquet file in, a Parquet file out, streamed in record batches
through the same checks and the same model call as the server. A thread reads and decodes
the next batches while this one scores, and another encodes and writes the last ones, so the
three overlap on a few cores and memory holds a few batches, not the file. Each batch is
scored in slices, one single-threaded model call per slice, on one thread per usable CPU."""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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
"""Rows per record batch: large enough that each row group costs little over its rows,
small enough that the stages overlap over most of a file."""
SLICE_ROWS = 2_048
"""Rows per model call. onnxruntime runs a graph one operator at a time, each writing its
whole output before the next reads it; at 2,048 rows those outputs are a few MB at most
(the bins 1.7 MB, the first layer's input 2.3 MB: near this machine's 2 MB of L2 a core)
rather than tens of MB at 65,536. Full data, one core, side by side: 1.25 s of CPU per
million rows in calls of 2,048 rows, 2.29 s in calls of 65,536 (issue 14's net)."""
DEPTH = 2
"""Batches read ahead of the model, and batches waiting to be written."""
SCORES = (pa.field("probability", pa.float32()), pa.field("delayed", pa.bool_()))


def usable_cpus() -> int:
    """The CPUs this process may run on, as `taskset` or a container's cpuset sets them."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else ()
    return len(usable) or os.cpu_count() or 1


def score_slices(
    model: ModelArtifact,
    categorical: np.ndarray,
    numeric: np.ndarray,
    pool: ThreadPoolExecutor,
    slice_rows: int = SLICE_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """`model.predict_arrays` for many rows, in calls of `slice_rows` run side by side on
    `pool` (onnxruntime lets go of the GIL). Single-threaded calls on threads of their own
    beat one call spread over a session's threads: no operator waits for the others'
    threads to finish (1,024-row calls, full data, 2 cores, streamed, in one run: 0.62M
    rows/s over a session's two threads, 0.67M side by side)."""
    if len(numeric) <= slice_rows:
        return model.predict_arrays(categorical, numeric)
    starts = range(0, len(numeric), slice_rows)
    parts = list(
        pool.map(
            lambda start: model.predict_arrays(
                categorical[start : start + slice_rows], numeric[start : start + slice_rows]
            ),
            starts,
        )
    )
    return np.concatenate([p for p, _ in parts]), np.concatenate([bits for _, bits in parts])


@dataclass
class BatchResult:
    rows: int
    seconds: float
    unseen: dict[str, int]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def predict_file(
    model: ModelArtifact,
    source: Path,
    destination: Path,
    batch_rows: int = BATCH_ROWS,
    slice_rows: int = SLICE_ROWS,
) -> BatchResult:
    """Adds `probability` and `delayed` to every input row. A missing feature column, or a
    value the server would refuse, stops the run with the column and row named, and leaves
    `destination` as it was: the output is written beside it and moved there at the end.
    `model` should be single-threaded (`ModelArtifact`'s default): the calls run side by side
    (`score_slices`)."""
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
                ThreadPoolExecutor(usable_cpus(), thread_name_prefix="score") as pool,
                pq.ParquetWriter(partial, schema) as parquet,
                WriteBehind(parquet.write_batch, DEPTH) as output,
                closing(read_ahead(decoded, DEPTH)) as batches,  # stopped before the file closes
            ):
                for batch, categorical, numeric in batches:
                    rules.check_numeric(numeric, first_row=rows)
                    probability, bits = score_slices(model, categorical, numeric, pool, slice_rows)
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
