"""Batch inference on the full data: `sluice predict` (Parquet in, Parquet out, streamed in
record batches, reading, scoring and writing overlapped) writing every input column back, as it
does by default (copied as stored), then keeping only a flight's key (`FLIGHT_KEY`), then
writing the scores alone; with a quarantine, no row refused and one in a hundred refused; every
column decoded and encoded again, as before the copy (`--no-copy`), without and with the
refusals; beside them the whole-file path it replaced and the pure onnxruntime forward pass
over the same rows, scored as `sluice predict` scores them (slices side by side on every
core). The file is the training frame, labelled, so the decision is named `predicted_delayed`
(`sluice predict --decision-column`). They take turns in SLUICE_BENCH_BATCH_ROUNDS (7)
rounds, so that a busy machine slows each alike; each row reports the best round (the
machine's capacity) and the median, and the process's CPU time per million rows, which a
busy machine changes least."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import track

from components.base.contract.artifact import ModelArtifact
from components.flights.schema import FLIGHT_KEY
from serving.arrow_inputs import batch_arrays
from serving.batch import OutputColumns, predict_file, score_slices, usable_cpus
from serving.request_rules import RequestRules
from tests.benchmarks.common import report

ROUNDS = int(os.environ.get("SLUICE_BENCH_BATCH_ROUNDS", "7"))
GOAL_ROWS_PER_SECOND = 1_000_000
STREAMED = "sluice predict: Parquet in, Parquet out, streamed, every core"
SCORES = "sluice predict --keep '' (the scores alone)"
WHOLE_FILE = "before: the whole file in one frame, one call on every core"
EVERY_COLUMN = OutputColumns(decision="predicted_delayed")
KEYS_ONLY = replace(EVERY_COLUMN, keep=tuple(FLIGHT_KEY))
KEYS = f"sluice predict --keep {','.join(FLIGHT_KEY)}"
SCORES_ONLY = replace(EVERY_COLUMN, keep=())
QUARANTINED = "sluice predict --quarantine, no row refused"
REFUSED = "sluice predict --quarantine, 1 row in 100 refused (hour 99)"
DECODED = "sluice predict --no-copy: every column decoded and encoded again"
REFUSED_DECODED = "sluice predict --quarantine --no-copy, 1 row in 100 refused"
FORWARD = "model forward only (onnxruntime, slices on every core)"


def whole_file(
    model: ModelArtifact, source: Path, destination: Path, columns: OutputColumns
) -> None:
    """`predict_file` as it was before it streamed (issue 15), kept here only to be measured
    against: the whole table read, turned into a frame, checked, scored and written (every
    column back, the scores named by `columns`)."""
    table = pq.read_table(source)
    frame = table.select(model.layout.features).to_pandas()
    rules = RequestRules.from_metadata(model.metadata, max_batch_rows=len(frame) or 1)
    categorical, numeric = model.layout.arrays(frame)
    rules.check_numeric(numeric)
    probability, _ = model.predict_arrays(categorical, numeric)
    scores = pa.array(probability.astype(np.float32)), pa.array(probability >= model.threshold)
    table = table.append_column(columns.probability, scores[0])
    table = table.append_column(columns.decision, scores[1])
    pq.write_table(table, destination)


def _timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and process CPU seconds of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def batch_table(model_dir: Path, frame_path: Path) -> list[dict]:
    model = ModelArtifact(model_dir, codes=True)  # as `sluice predict` loads it
    one_call = ModelArtifact(model_dir, threads=usable_cpus())  # as the whole-file path did
    frame = pd.read_parquet(frame_path)
    # the model's inputs as `sluice predict` makes them: the categories as the graph's codes
    features = pa.Table.from_pandas(frame[model.layout.features], preserve_index=False)
    (whole,) = features.combine_chunks().to_batches()
    categorical, numeric = batch_arrays(model.layout, whole, lookups=model.lookups)
    with tempfile.TemporaryDirectory() as work, ThreadPoolExecutor(usable_cpus()) as pool:
        source, destination = Path(work) / "in.parquet", Path(work) / "out.parquet"
        frame.to_parquet(source, index=False)
        refusable = Path(work) / "refusable.parquet"
        frame.assign(hour=np.where(np.arange(len(frame)) % 100 == 0, 99, frame["hour"])).to_parquet(
            refusable, index=False
        )
        aside = Path(work) / "aside.parquet"
        runs = {
            STREAMED: lambda: predict_file(model, source, destination, columns=EVERY_COLUMN),
            KEYS: lambda: predict_file(model, source, destination, columns=KEYS_ONLY),
            SCORES: lambda: predict_file(model, source, destination, columns=SCORES_ONLY),
            QUARANTINED: lambda: predict_file(
                model, source, destination, columns=EVERY_COLUMN, quarantine=aside
            ),
            REFUSED: lambda: predict_file(
                model, refusable, destination, columns=EVERY_COLUMN, quarantine=aside
            ),
            DECODED: lambda: predict_file(
                model, source, destination, columns=EVERY_COLUMN, copy=False
            ),
            REFUSED_DECODED: lambda: predict_file(
                model, refusable, destination, columns=EVERY_COLUMN, quarantine=aside, copy=False
            ),
            WHOLE_FILE: lambda: whole_file(one_call, source, destination, EVERY_COLUMN),
            FORWARD: lambda: score_slices(model, categorical, numeric, pool),
        }
        warm = {name: run() for name, run in runs.items()}  # page cache, onnxruntime's first call
        copying = (STREAMED, KEYS, QUARANTINED, REFUSED)
        paths = (
            *(warm[name].copied and warm[name].decoded_why is None for name in copying),
            not warm[DECODED].copied,
            warm[QUARANTINED].quarantined == 0,
            warm[REFUSED].quarantined == -(-len(frame) // 100),
            not warm[REFUSED_DECODED].copied,
        )
        if not all(paths):
            raise RuntimeError(f"a run did not take the path its name says: {paths}")
        timings = {name: [] for name in runs}
        for round_ in track(range(ROUNDS), description="batch inference rounds"):
            names = list(runs)[round_ % len(runs) :] + list(runs)[: round_ % len(runs)]
            for name in names:
                timings[name].append(_timed(runs[name]))
    rows = []
    for name, runs_of in timings.items():
        walls = [wall for wall, _ in runs_of]
        rows.append(
            {
                "measure": name,
                "rows": len(frame),
                "best_s": min(walls),
                "median_s": statistics.median(walls),
                "rows_per_second": len(frame) / min(walls),
                "median_rows_per_second": len(frame) / statistics.median(walls),
                "cpu_s_per_million_rows": min(cpu for _, cpu in runs_of) / len(frame) * 1e6,
            }
        )
    return rows


def main(model_dir: Path, frame_path: Path) -> None:
    rows = batch_table(model_dir, frame_path)
    by_name = {row["measure"]: row for row in rows}
    streamed = by_name[STREAMED]["rows_per_second"]
    report(
        "batch_inference",
        f"batch inference, full data (best and median of {ROUNDS} rounds)",
        rows,
        {
            "goal_rows_per_second": GOAL_ROWS_PER_SECOND,
            "goal_met": streamed >= GOAL_ROWS_PER_SECOND,
            "goal_met_keeping_keys": by_name[KEYS]["rows_per_second"] >= GOAL_ROWS_PER_SECOND,
            "goal_met_scores_alone": by_name[SCORES]["rows_per_second"] >= GOAL_ROWS_PER_SECOND,
            "streamed_over_whole_file": streamed / by_name[WHOLE_FILE]["rows_per_second"],
            "copied_over_decoded": streamed / by_name[DECODED]["rows_per_second"],
            "copied_over_decoded_with_refusals": by_name[REFUSED]["rows_per_second"]
            / by_name[REFUSED_DECODED]["rows_per_second"],
            "io_over_forward": streamed / by_name[FORWARD]["rows_per_second"],
        },
    )


if __name__ == "__main__":
    import sys

    main(Path(sys.argv[1]), Path(sys.argv[2]))
