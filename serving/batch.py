"""Batch inference: a Parquet file in, a Parquet file out, streamed in record batches
through the same checks and the same weights as the server. A thread reads and decodes the
next batches while this one scores, and another encodes and writes the last ones, so the
three overlap on a few cores and memory holds a few batches, not the file (and a row group
read again for a row set aside, encoded, until it is written). Each batch is
scored in slices, one single-threaded model call per slice, on one thread per usable CPU.
The categories reach the graph as its own codes, each distinct value of a batch's text
column looked up once (`ModelArtifact.lookups`, from a model loaded with `codes=True`),
where the server sends their text. The input's columns written back are copied as the file
stores them, a row group at a time, not decoded and encoded again, where its layout allows
(`parquet_join`): then the features alone are decoded, and the writer adds each row group's
scores to its copied columns."""

from __future__ import annotations

import io
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager, nullcontext, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import (
    DECISION_NAME,
    OUTPUT_NAME,
    QUARANTINE_REASONS,
    QUARANTINE_ROW,
)
from serving.arrow_inputs import batch_arrays, is_text
from serving.overlap import WriteBehind, read_ahead
from serving.parquet_join import CannotJoin, ColumnJoiner
from serving.request_rules import RequestRules

BATCH_ROWS = 65_536
"""Rows per record batch: large enough that each row group costs little over its rows,
small enough that the stages overlap over most of a file."""
SLICE_ROWS = 2_048
"""Rows per model call. onnxruntime runs a graph one operator at a time, each writing its
whole output before the next reads it; at 2,048 rows those outputs are a few MB at most
(the bins 1.7 MB, the first layer's other input 0.7 MB: near this machine's 2 MB of L2 a
core) rather than tens of MB at 65,536. Full data, one core, the categories as codes: 0.92 s
of CPU per million rows in calls of 2,048 rows, 0.94 s in calls of 1,024 or 4,096, 1.63 s in
calls of 65,536 (as text: 1.07, 1.03, 1.08 and 1.79 s)."""
DEPTH = 2
"""Batches read ahead of the model, and batches waiting to be written."""


class OutputColumnsError(ValueError):
    """The output cannot be what was asked: the scores without two distinct names, a score
    named as a kept column, a column to keep that the file does not hold once, a quarantine
    column named as an input's, a file written over another of the run's, or a folder."""


@dataclass(frozen=True)
class OutputColumns:
    """What `predict_file` writes: the input columns it keeps, in their order (every one
    when `keep` is None; a name given twice is kept once), then the probability and the
    decision, named as the server names them unless told otherwise (a labelled file already
    holds a `delayed`)."""

    keep: tuple[str, ...] | None = None
    probability: str = OUTPUT_NAME
    decision: str = DECISION_NAME

    def __post_init__(self) -> None:
        if not self.probability or not self.decision:
            raise OutputColumnsError("the probability and the decision each need a name")
        if self.probability == self.decision:
            raise OutputColumnsError(
                f"the probability and the decision cannot share the name {self.probability!r}"
            )

    def schema(self, source: pa.Schema, where: Path) -> pa.Schema:
        """The output's schema. The source's metadata goes with it, but pandas' (which
        describes every column, the index among them) only when `keep` is not given."""
        if self.keep is None:
            kept, metadata = list(source), source.metadata
        else:
            held = {name: len(source.get_all_field_indices(name)) for name in self.keep}
            absent = [name for name, count in held.items() if count == 0]
            if absent:
                raise OutputColumnsError(f"{where}: no column(s) {absent} to keep")
            repeated = [name for name, count in held.items() if count > 1]
            if repeated:
                raise OutputColumnsError(
                    f"{where}: column(s) {repeated} appear more than once: not kept by name"
                )
            kept, metadata = [source.field(name) for name in held], _without_pandas(source)
        clash = [s for s in (self.probability, self.decision) if s in {f.name for f in kept}]
        if clash:
            raise OutputColumnsError(
                f"{where}: the input has a column named as a score would be: {clash}; name "
                "the scores otherwise (--probability-column, --decision-column) or leave it "
                "out (--keep)"
            )
        scores = [pa.field(self.probability, pa.float32()), pa.field(self.decision, pa.bool_())]
        return pa.schema([*kept, *scores], metadata=metadata or None)


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
    """Rows read, the quarantined among them."""
    seconds: float
    unseen: dict[str, int]
    quarantined: int
    copied: bool = False
    """The copy taken (`ColumnJoiner`): the columns written along copied as the file stores
    them, in each row group but those read again for a row set aside (maybe all)."""
    decoded_why: str | None = None
    """Why the columns written along were decoded and encoded again instead (`CannotJoin`)."""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def predict_file(
    model: ModelArtifact,
    source: Path,
    destination: Path,
    batch_rows: int = BATCH_ROWS,
    slice_rows: int = SLICE_ROWS,
    columns: OutputColumns = OutputColumns(),
    quarantine: Path | None = None,
    copy: bool = True,
) -> BatchResult:
    """Adds the probability and the decision to every input row (`columns`: which input
    columns go along, and the scores' names; only those and the features are read). The
    columns going along are copied as stored, in the file's row groups (`ColumnJoiner`),
    unless told not to (`copy`), none go, or the file stores them otherwise than pyarrow
    writes them (`CannotJoin`): then they are decoded and written a row group a batch; a row
    group with rows set aside is read again and written without them, a row group a batch. A
    missing feature column, output columns that cannot be, or a value the server would
    refuse stops the run with the column (and row) named, and leaves `destination` as it
    was: the output is written beside it and moved there at the end. With `quarantine`, a
    row the server would refuse for its numbers (`RequestRules.refusals`) goes there
    instead, with its row in the file and the rules it breaks before the columns read
    (`quarantine_schema`), and the rest are scored; that file is written, empty or not, as
    `destination` is. `model` should be single-threaded (`ModelArtifact`'s default): the
    calls run side by side (`score_slices`); loaded with `codes=True`, it is fed the
    categories as codes (else as text: the same answers, at a seventh more of the model's
    CPU)."""
    started = time.perf_counter()
    layout = model.layout
    rows, aside, unseen = 0, 0, Counter(dict.fromkeys(layout.categorical, 0))
    stored, schema = check_output(source, destination, columns, quarantine)
    missing = layout.missing(stored.names)
    if missing:
        raise KeyError(f"{source}: missing feature column(s) {missing}")
    repeated = [f for f in layout.features if len(stored.get_all_field_indices(f)) > 1]
    if repeated:
        raise KeyError(f"{source}: feature column(s) {repeated} appear more than once")
    rules = RequestRules.from_metadata(model.metadata, max_batch_rows=batch_rows)
    kept = schema.names[:-2]
    # what a batch written along is read as (None: every column), and a row set aside
    read = None if columns.keep is None else list(dict.fromkeys([*kept, *layout.features]))
    set_aside = None
    if quarantine is not None:
        fields = list(stored) if read is None else [stored.field(name) for name in read]
        set_aside = quarantine_schema(fields, stored, source)
    lookups = model.lookups  # None: the categories go as text
    # text features as the dictionaries Parquet stores them in: no string decoded per row
    text = [name for name in layout.categorical if is_text(stored.field(name).type)]
    begun: list[Path] = []  # the temporary files written, each moved into place at the end
    # the joiner's file is closed below
    # the writer's options for what pyarrow encodes: the scores, and any columns decoded
    options = {"use_dictionary": _dictionary(schema, columns)}
    joiner, decoded_why = (None, None)
    if copy:
        joiner, decoded_why = _joiner(source, stored, schema, columns, options)
    # with the kept columns copied as stored, the features alone are decoded
    decode = read if joiner is None else list(dict.fromkeys(layout.features))
    try:
        with (
            joiner or nullcontext(),
            pq.ParquetFile(source, read_dictionary=text) as file,
        ):
            decoded = (
                (batch, *batch_arrays(layout, batch, stored, lookups))
                for batch in file.iter_batches(batch_size=batch_rows, columns=decode)
            )
            with (
                ThreadPoolExecutor(usable_cpus(), thread_name_prefix="score") as pool,
                _output(destination, schema, options, joiner, begun) as out,
                (
                    nullcontext()
                    if quarantine is None
                    else _partial_writer(quarantine, set_aside, begun)
                ) as refused_rows,
                (
                    nullcontext(out.write_batch)
                    if joiner is None
                    else _GroupWriter(
                        joiner, out, source, read, kept, schema, refused_rows, batch_rows
                    )
                ) as write,
                WriteBehind(write, DEPTH) as output,
                closing(read_ahead(decoded, DEPTH)) as batches,  # stopped before the file closes
            ):
                groups = (
                    None
                    if joiner is None
                    else _RowGroups(joiner.row_groups, pa.schema(list(schema)[-2:]), output.put)
                )
                for batch, categorical, numeric in batches:
                    first, rows = rows, rows + batch.num_rows
                    refused: dict[int, str] = {}
                    if refused_rows is None:
                        rules.check_numeric(numeric, first_row=first)
                    elif refused := rules.refusals(numeric):
                        aside += len(refused)
                        scored = _scored(refused, batch.num_rows)
                        if groups is None:  # else as its row group is read again (_GroupWriter)
                            refused_rows.write_batch(_set_aside(batch, refused, first, set_aside))
                            batch = batch.filter(scored)
                        categorical, numeric = categorical[scored], numeric[scored]
                    scores = _scores(model, categorical, numeric, pool, slice_rows, unseen)
                    if groups is not None:
                        groups.put(rows - first, {first + i: r for i, r in refused.items()}, scores)
                    elif batch.num_rows:
                        output.put(_along(batch, read, kept, scores, schema))
        # the quarantine first: its move failing leaves the output as it was (the output's
        # failing leaves the new quarantine beside the earlier output, and says so)
        _move_into_place([p for p in (quarantine, destination) if p is not None], begun)
    except BaseException:
        for partial in begun:
            with suppress(OSError):  # the run's own error goes on
                partial.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - started
    return BatchResult(rows, seconds, dict(unseen), aside, joiner is not None, decoded_why)


def check_output(
    source: Path, destination: Path, columns: OutputColumns, quarantine: Path | None = None
) -> tuple[pa.Schema, pa.Schema]:
    """What the run writes, checked from the file's schema alone, so before a model is
    fetched (`sluice predict`): each file of its own (`check_written`), the output's columns
    (`OutputColumns.schema`), and the quarantine's own names apart from the columns written
    along (the features read besides are checked once a model names them). The file's
    schema, the types as read without dictionaries, and the output's."""
    check_written(source, destination, quarantine)
    stored = pq.read_schema(source)
    schema = columns.schema(stored, source)
    if quarantine is not None:
        quarantine_schema(list(schema)[:-2], stored, source)
    return stored, schema


def quarantine_schema(read: list[pa.Field], stored: pa.Schema, source: Path) -> pa.Schema:
    """The rows set aside: their row in the file and the rules they break, then the columns
    read, as the file holds them, with its metadata but pandas'."""
    clash = [f.name for f in read if f.name in (QUARANTINE_ROW, QUARANTINE_REASONS)]
    if clash:
        raise OutputColumnsError(
            f"{source}: the input has a column named as the quarantine's own: {clash}"
        )
    own = [pa.field(QUARANTINE_ROW, pa.int64()), pa.field(QUARANTINE_REASONS, pa.string())]
    return pa.schema([*own, *read], metadata=_without_pandas(stored) or None)


def check_written(source: Path, destination: Path, quarantine: Path | None = None) -> None:
    """Each file the run writes, and the file it is written as until the end (`_partial`),
    is a file of its own and no folder; only the output may replace the input (it is moved
    there at the end). Checked before a row is read, so that neither a folder nor another
    of the run's files is in the way of a move at the end."""
    files = [("the input", _resolved(source))]
    for what, path in (("the output", destination), ("the quarantine", quarantine)):
        if path is None:
            continue
        if path.is_dir():  # first: `.` names no file, so has no temporary one
            raise OutputColumnsError(f"{path}: {what} is a folder")
        partial = _partial(path)
        if partial.is_dir():
            raise OutputColumnsError(f"{partial}: {what}'s temporary file is a folder")
        files += [(what, _resolved(path)), (f"{what}'s temporary file", _resolved(partial))]
    seen: dict[Path, str] = {}
    for what, path in files:
        other = seen.setdefault(path, what)
        if other != what and {other, what} != {"the input", "the output"}:
            raise OutputColumnsError(f"{path}: {what} would be {other}")


def _resolved(path: Path) -> Path:
    """The file `path` names, symbolic links followed; a loop of them is refused."""
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 raises RuntimeError for a loop
        raise OutputColumnsError(f"{path}: {exc}") from None


def _without_pandas(schema: pa.Schema) -> dict[bytes, bytes]:
    """A schema's metadata but pandas', which describes every column of the file (the
    index among them), and so not a file of other columns."""
    return {k: v for k, v in (schema.metadata or {}).items() if k != b"pandas"}


def _joiner(
    source: Path,
    stored: pa.Schema,
    schema: pa.Schema,
    columns: OutputColumns,
    options: dict[str, Any],
) -> tuple[ColumnJoiner | None, str | None]:
    """A joiner of the scores to the kept columns as `source` stores them; or None where no
    column is kept (the scores alone go out a row group a batch, as scored), or, with why,
    where its layout does not allow one (`CannotJoin`: they are decoded and encoded again)."""
    names = schema.names[:-2]
    if not names:
        return None, None
    kept = range(len(stored)) if columns.keep is None else map(stored.get_field_index, names)
    try:
        return ColumnJoiner(source, schema, list(kept), **options), None
    except CannotJoin as exc:
        return None, str(exc)


@contextmanager
def _output(
    destination: Path,
    schema: pa.Schema,
    options: dict[str, Any],
    joiner: ColumnJoiner | None,
    begun: list[Path],
) -> Iterator[Any]:
    """The output's temporary file: a Parquet writer of `schema` (`options`), or with a
    joiner, the file it writes to; its footer is written on a clean exit."""
    if joiner is None:
        with _partial_writer(destination, schema, begun, **options) as parquet:
            yield parquet
        return
    with open(_partial(destination), "wb") as out:
        begun.append(_partial(destination))
        joiner.begin(out)
        yield out
        joiner.finish(out)


@dataclass(frozen=True)
class _Part:
    """Of a row group of the source, scored: the whole of a group none of whose rows was set
    aside, or of one that had, each batch's rows as they come (the rows before its first
    refusal with the first part)."""

    at: int
    """The group's place in the file."""
    first: int
    """The file's row the group begins at."""
    stop: int
    """The file's row the part ends before."""
    scores: pa.Table
    """Of its rows scored."""
    refused: dict[int, str]
    """Its rows set aside (the file's, in order), and the rules each breaks."""
    copied: bool
    """The group copied as stored (the only part), or written as its rows."""
    last: bool
    """The group's last part."""


class _RowGroups:
    """The scores (`schema`) and the rows set aside, cut into the source's row groups
    (`groups`: each one's place and rows), handed to `put` as parts (`_Part`)."""

    def __init__(self, groups: list[tuple[int, int]], schema: pa.Schema, put: Callable):
        self._groups, self._schema, self._put = deque(groups), schema, put
        self._first = self._read = 0  # the file's rows: the group's first, the next to read
        self._held: list[pa.Table] = []
        self._refused: dict[int, str] = {}
        self._as_rows = False  # a row of the group in hand was set aside

    def put(self, rows: int, refused: dict[int, str], scores: tuple[pa.Array, pa.Array]) -> None:
        """A batch's: its rows read, those set aside (the file's), the scores of the rest."""
        scored = pa.table(list(scores), schema=self._schema)
        start, self._read = self._read, self._read + rows
        while self._groups and start < self._read:
            at, size = self._groups[0]
            end = self._first + size
            stop = min(end, self._read)
            mine = {row: why for row, why in refused.items() if start <= row < stop}
            taken = stop - start - len(mine)
            self._held.append(scored.slice(0, taken))
            scored, start = scored.slice(taken), stop
            self._refused.update(mine)
            self._as_rows = self._as_rows or bool(mine)
            if self._as_rows or stop == end:
                held = pa.concat_tables(self._held)
                copied, last = not self._as_rows, stop == end
                self._put(_Part(at, self._first, stop, held, self._refused, copied, last))
                self._held, self._refused = [], {}
            if stop == end:
                self._groups.popleft()
                self._first, self._as_rows = end, False


class _GroupWriter:
    """Writes the parts of each scored row group (`_Part`): a group's scores beside its
    columns copied as stored, or, where rows were set aside, the group read again (`read`,
    by a reader of its own: this runs on the writer's thread) as its parts come, those rows
    to the quarantine and the rest with their scores encoded, a row group a batch. Entered,
    it leaves no group half written on an error."""

    def __init__(
        self,
        joiner: ColumnJoiner,
        out: BinaryIO,
        source: Path,
        read: list[str] | None,
        kept: list[str],
        schema: pa.Schema,
        quarantine: pq.ParquetWriter | None,
        batch_rows: int,
    ):
        self._joiner, self._out, self._source = joiner, out, source
        self._read, self._kept, self._schema = read, kept, schema
        self._quarantine, self._batch_rows = quarantine, batch_rows
        self._rewriting: ExitStack | None = None  # the group in hand, written as its rows
        self._write: Callable[[pa.RecordBatch], None] | None = None  # its rows' writer
        self._again: Iterator[pa.RecordBatch] = iter(())  # that group, read again
        self._waiting: pa.RecordBatch | None = None  # read again, its rows not all scored
        self._next = 0  # the file's row the next batch read again begins at
        self._scores: list[pa.Table] = []
        self._refused: dict[int, str] = {}

    def __call__(self, part: _Part) -> None:
        if part.copied:
            self._joiner.add(self._out, part.scores)
            return
        if self._rewriting is None:
            self._rewriting = ExitStack()
            file = self._rewriting.enter_context(pq.ParquetFile(self._source))
            self._write = self._rewriting.enter_context(self._joiner.rows(self._out))
            again = file.iter_batches(
                batch_size=self._batch_rows, row_groups=[part.at], columns=self._read
            )
            # decoded by a thread of its own, as the first reading is
            self._again = self._rewriting.enter_context(closing(read_ahead(again, DEPTH)))
            self._next = part.first
        self._scores.append(part.scores)
        self._refused.update(part.refused)
        batch = self._waiting if self._waiting is not None else next(self._again, None)
        while batch is not None and self._next + batch.num_rows <= part.stop:
            self._rewrite(batch)
            batch = next(self._again, None)
        self._waiting = batch  # its rows not all scored yet
        if part.last:
            self._rewriting, rewriting = None, self._rewriting
            rewriting.close()  # the rows written into the output

    def _rewrite(self, batch: pa.RecordBatch) -> None:
        first, rows = self._next, batch.num_rows
        self._next += rows
        mine = {
            row - first: self._refused.pop(row) for row in list(self._refused) if row < first + rows
        }
        if mine:
            self._quarantine.write_batch(_set_aside(batch, mine, first, self._quarantine.schema))
            batch = batch.filter(_scored(mine, rows))
        scores = pa.concat_tables(self._scores)
        self._scores = [scores.slice(batch.num_rows)]
        if batch.num_rows:
            along = [column.combine_chunks() for column in scores.slice(0, batch.num_rows).columns]
            self._write(_along(batch, self._read, self._kept, along, self._schema))

    def __enter__(self) -> _GroupWriter:
        return self

    def __exit__(self, *error: object) -> None:
        if self._rewriting is not None:  # a run that failed: the group's rows are not written
            self._rewriting.__exit__(*error)


def _partial_writer(
    path: Path, schema: pa.Schema, begun: list[Path], **options
) -> pq.ParquetWriter:
    """A Parquet writer of `path`'s temporary file, noted in `begun` once it is made, so
    that it goes if the run fails (and no file the run did not make does)."""
    writer = pq.ParquetWriter(_partial(path), schema, **options)
    begun.append(_partial(path))
    return writer


def _move_into_place(paths: list[Path], begun: list[Path]) -> None:
    """Each of `paths` moved from its temporary file, in order, each struck from `begun` as
    it goes, so that a failure after removes none but those not moved yet."""
    for path in paths:
        _partial(path).replace(path)
        begun.remove(_partial(path))


def _set_aside(
    batch: pa.RecordBatch, refused: dict[int, str], first: int, schema: pa.Schema
) -> pa.RecordBatch:
    """The refused rows of `batch` (its first row the file's `first`) as the quarantine
    holds them."""
    at = np.fromiter(refused, dtype=np.int64, count=len(refused))
    own = [pa.array(first + at), pa.array(list(refused.values()), pa.string())]
    return pa.RecordBatch.from_arrays([*own, *batch.take(pa.array(at)).columns], schema=schema)


def _scored(refused: dict[int, str], rows: int) -> np.ndarray:
    """Which of a batch's `rows` are scored: all but those refused."""
    scored = np.ones(rows, dtype=bool)
    scored[np.fromiter(refused, dtype=np.int64, count=len(refused))] = False
    return scored


def _scores(
    model: ModelArtifact,
    categorical: np.ndarray,
    numeric: np.ndarray,
    pool: ThreadPoolExecutor,
    slice_rows: int,
    unseen: Counter,
) -> tuple[pa.Array, pa.Array]:
    """The probability and the decision of each row, its unseen categories counted."""
    if not len(numeric):
        return pa.array([], pa.float32()), pa.array([], pa.bool_())
    probability, bits = score_slices(model, categorical, numeric, pool, slice_rows)
    unseen.update(model.layout.unseen_counts(bits))
    return (
        pa.array(probability.astype(np.float32, copy=False)),
        pa.array(probability >= model.threshold),
    )


def _along(
    batch: pa.RecordBatch,
    read: list[str] | None,
    kept: list[str],
    scores: Sequence[pa.Array],
    schema: pa.Schema,
) -> pa.RecordBatch:
    """The output's rows: the columns written along (`read` from the file), then the scores."""
    # by position when every column goes: a file may repeat a name
    passed = batch.columns if read is None else map(batch.column, kept)
    # from_arrays casts each column to its field's type (`pa.asarray`): a text feature read
    # as a dictionary goes out as the text the file holds
    return pa.RecordBatch.from_arrays([*passed, *scores], schema=schema)


def _partial(path: Path) -> Path:
    """Where `path` is written until the run has finished."""
    return path.with_name(f".{path.name}.partial")


def _dictionary(schema: pa.Schema, columns: OutputColumns) -> list[str]:
    """The columns Parquet may dictionary-encode: all but the probability, which is nearly
    unique per row, so that a dictionary costs a hash of every value and takes more room
    (327,680 scores: 51 against 13 ms of CPU, 2.0 against 1.4 MB). Parquet names each leaf
    (a struct's field `s.x`, a list's element `l.list.element`), so the names are those of
    an empty file of `schema`, as the writer lays it out."""
    empty = io.BytesIO()
    pq.write_table(schema.empty_table(), empty)
    leaves = pq.ParquetFile(empty).schema
    paths = (leaves.column(i).path for i in range(len(leaves)))
    return [path for path in paths if path != columns.probability]
