"""Columns added to a Parquet file without decoding the columns it holds: each of its row
groups is written again with its column chunks copied byte for byte as stored (their pages,
encodings, compression and statistics), the new columns' chunks (encoded by pyarrow, one row
group for each of the file's) after them, and a footer that names both. Decoding and encoding
again cost two-fifths of batch inference's CPU with every column written back (full data,
39 columns). This is what parquet-java's `ParquetRewriter` does to join columns and what
Arrow C++'s `ParquetFileRewriter` (apache/arrow#47628) will do; pyarrow 25 has neither. The
footer is Parquet's Thrift, read and written by thriftpy2 from the format's own definition,
`parquet.thrift` (apache/parquet-format at 24102ed, Apache-2.0), beside this file."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import thriftpy2
from thriftpy2.protocol import TCompactProtocolFactory
from thriftpy2.utils import deserialize, serialize

PARQUET = thriftpy2.load(
    str(Path(__file__).with_name("parquet.thrift")), module_name="parquet_thrift"
)
MAGIC = b"PAR1"
_COMPACT = TCompactProtocolFactory()
_PIECE = 8 << 20
"""Bytes copied at a time: a column chunk may be far larger than memory should hold."""
_MOST_GROUP_ROWS = 64 << 20
"""The most rows pyarrow writes in a row group: the scores of a larger one would not be one."""


class CannotJoin(ValueError):
    """The file's column chunks cannot be copied as they are: encrypted, stored in another
    file, laid out beyond the file, in a row group larger than pyarrow writes, or a kept
    column stored, or its statistics ordered, otherwise than pyarrow writes its type (an
    INT96 timestamp, say; a writer that says no order), so that the footer, which is
    pyarrow's, would misname it."""


def read_footer(file: BinaryIO) -> tuple[Any, int]:
    """The file's `FileMetaData`, and where it begins."""
    file.seek(0, io.SEEK_END)
    size = file.tell()
    if size < 12:
        raise CannotJoin("too short for a Parquet file")
    file.seek(size - 8)
    length, magic = struct.unpack("<i4s", file.read(8))
    if magic != MAGIC:  # PARE: an encrypted footer
        raise CannotJoin(f"the file ends in {magic!r}, not {MAGIC!r}")
    if not 0 < length <= size - 12:
        raise CannotJoin(f"a footer of {length} bytes in a file of {size}")
    file.seek(size - 8 - length)
    return deserialize(PARQUET.FileMetaData(), file.read(length), _COMPACT), size - 8 - length


class ColumnJoiner:
    """Writes `schema` to `out`: the `kept` top-level fields of `source` (by position, in
    the order given) and then the fields it adds (the rest of `schema`), in `source`'s row
    groups, the kept columns' chunks copied as stored. `options` are `pq.write_table`'s for
    the added columns. The layout is checked when made, so that a file it cannot copy
    raises `CannotJoin` before a byte is written."""

    def __init__(
        self, source: Path, schema: pa.Schema, kept: Sequence[int], **options: Any
    ) -> None:
        # version 1 data pages, which readers take as they are whoever the footer names (some
        # correct version 2 pages of older writers: parquet-cpp before 2.0, ARROW-10353)
        self._schema, self._options = schema, {**options, "data_page_version": "1.0"}
        self._template = _footer_of(schema.empty_table(), self._options)
        self._source = open(source, "rb")  # closed by close()
        try:
            footer, self._end = read_footer(self._source)
            self._writer = footer.created_by  # may be unsaid
            leaves = _kept_leaves(footer, self._template, kept, source)
            self._leaves = [leaf for leaf, _ in leaves]
            # each with its place in the file, as `pq.ParquetFile` counts them
            self._groups = [(at, g) for at, g in enumerate(footer.row_groups) if g.num_rows]
            for _, group in self._groups:
                if group.num_rows > _MOST_GROUP_ROWS:
                    raise CannotJoin(f"{source}: a row group of {group.num_rows:,} rows")
                for leaf, named in leaves:
                    self._check_chunk(group.columns[leaf], named, source)
        except BaseException:
            self._source.close()
            raise
        self._next = 0  # the next of `_groups` to write
        self._copied = False  # a row group's chunks copied
        self._written: list[Any] = []

    @property
    def row_groups(self) -> list[tuple[int, int]]:
        """The source's row groups to be written, in order, one `add` or `rows` each: each
        group's place in the file (as `pq.ParquetFile` counts them) and its rows. A group
        without rows is left out."""
        return [(at, group.num_rows) for at, group in self._groups]

    def begin(self, out: BinaryIO) -> None:
        out.write(MAGIC)

    def add(self, out: BinaryIO, added: pa.Table) -> None:
        """Writes the next row group: its kept columns from the source, then `added`."""
        group = self._take(added.num_rows)
        self._copied = True
        buffer = io.BytesIO()
        pq.write_table(added, buffer, row_group_size=added.num_rows, **self._options)
        [encoded] = read_footer(buffer)[0].row_groups
        start = out.tell()
        columns = [_copy_chunk(group.columns[leaf], self._source, out) for leaf in self._leaves]
        columns += [_copy_chunk(chunk, buffer, out) for chunk in encoded.columns]
        self._append(start, columns, group.num_rows)

    @contextmanager
    def rows(self, out: BinaryIO) -> Iterator[Callable[[pa.RecordBatch], None]]:
        """Writes the next row group as the rows given instead (batches of the whole
        `schema`, each encoded as a row group of its own, or more past pyarrow's most), not
        copied: the group less some of its rows, say. They are written at a clean exit."""
        self._take()
        buffer = io.BytesIO()
        with pq.ParquetWriter(buffer, self._schema, **self._options) as writer:
            yield writer.write_batch
        for group in read_footer(buffer)[0].row_groups:
            start = out.tell()
            columns = [_copy_chunk(chunk, buffer, out) for chunk in group.columns]
            self._append(start, columns, group.num_rows)

    def _take(self, rows: int | None = None) -> Any:
        """The next row group to write (of `rows`, where they are given)."""
        if self._next >= len(self._groups):
            raise ValueError(f"the {len(self._groups)} row groups are written")
        group = self._groups[self._next][1]
        if rows is not None and rows != group.num_rows:
            raise ValueError(f"{rows} rows to add to a row group of {group.num_rows}")
        self._next += 1
        return group

    def _append(self, start: int, columns: list[Any], rows: int) -> None:
        self._written.append(
            PARQUET.RowGroup(
                columns=columns,
                total_byte_size=sum(c.meta_data.total_uncompressed_size for c in columns),
                num_rows=rows,
                file_offset=start,
                total_compressed_size=sum(c.meta_data.total_compressed_size for c in columns),
                # an i16, which only decryption reads
                ordinal=len(self._written) if len(self._written) < 2**15 else None,
            )
        )

    def finish(self, out: BinaryIO) -> None:
        """The footer, once every row group is written: pyarrow's for the output's schema,
        but for the writer it names, where any chunk was copied: the source's (or none, as
        the source says), as a reader corrects some writers' pages and statistics by their
        name (pyarrow's pages, version 1 data pages, need none)."""
        if self._next != len(self._groups):
            raise ValueError(f"{self._next} of {len(self._groups)} row groups written")
        template = self._template
        footer = PARQUET.FileMetaData(
            version=template.version,
            schema=template.schema,
            num_rows=sum(group.num_rows for group in self._written),
            row_groups=self._written,
            key_value_metadata=template.key_value_metadata,  # the Arrow schema among them
            # readers correct some writers' pages and statistics by the name
            created_by=self._writer if self._copied else template.created_by,
            column_orders=template.column_orders,
        )
        encoded = serialize(footer, _COMPACT)
        out.write(encoded + struct.pack("<i", len(encoded)) + MAGIC)

    def close(self) -> None:
        self._source.close()

    def __enter__(self) -> ColumnJoiner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _check_chunk(self, chunk: Any, named: tuple[list[str], Any], source: Path) -> None:
        """`chunk` is in this file, where its metadata says, and holds the leaf the
        output's footer will name it as (`named`: its path and schema element)."""
        if chunk.file_path is not None:
            raise CannotJoin(f"{source}: a column chunk stored in {chunk.file_path!r}")
        meta = chunk.meta_data
        if meta is None or chunk.crypto_metadata is not None:
            raise CannotJoin(f"{source}: an encrypted column chunk")
        path, element = named
        if meta.path_in_schema != path or meta.type != element.type:
            raise CannotJoin(
                f"{source}: a column chunk of {'.'.join(meta.path_in_schema)!r} (type "
                f"{meta.type}) where the schema has {'.'.join(path)!r} (type {element.type})"
            )
        start, size = _chunk_range(meta)
        if start < len(MAGIC) or size < 0 or start + size > self._end:
            raise CannotJoin(
                f"{source}: column {'.'.join(meta.path_in_schema)!r} laid out at {start} for "
                f"{size} bytes, beyond the {self._end} before the footer"
            )
        if not start <= meta.data_page_offset < start + size:
            raise CannotJoin(
                f"{source}: column {'.'.join(meta.path_in_schema)!r}'s data pages at "
                f"{meta.data_page_offset}, beyond its {size} bytes from {start}"
            )


def _kept_leaves(
    footer: Any, template: Any, kept: Sequence[int], source: Path
) -> list[tuple[int, tuple[list[str], Any]]]:
    """The source's leaf columns of the kept fields, in the output's order, each with the
    path and schema element the output's footer names it by: each field checked to be
    stored as that footer names it, and its statistics ordered as that footer says."""
    if footer.encryption_algorithm is not None:
        raise CannotJoin(f"{source}: an encrypted file")
    stored, written = _fields(footer.schema), _fields(template.schema)
    first_leaf = [0]
    for elements in stored:
        first_leaf.append(first_leaf[-1] + len(_leaves(elements)))
    orders = footer.column_orders or []
    leaves: list[tuple[int, tuple[list[str], Any]]] = []
    for field, at in zip(written[: len(kept)], kept, strict=True):
        if stored[at] != field:
            raise CannotJoin(
                f"{source}: column {field[0].name!r} is stored otherwise than pyarrow writes it"
            )
        leaves_of = range(first_leaf[at], first_leaf[at + 1])
        for leaf, named in zip(leaves_of, _leaves(field), strict=True):
            if leaf >= len(orders) or orders[leaf] != template.column_orders[len(leaves)]:
                raise CannotJoin(
                    f"{source}: column {field[0].name!r}'s statistics are ordered otherwise "
                    "than pyarrow orders them, or their order is not said"
                )
            leaves.append((leaf, named))
    return leaves


def _fields(elements: list[Any]) -> list[list[Any]]:
    """A Parquet schema's top-level fields, each as its elements (the field, then those
    below it, depth first, as the footer lists them)."""
    fields, at = [], 1
    for _ in range(elements[0].num_children or 0):
        end = _past(elements, at)
        fields.append(elements[at:end])
        at = end
    return fields


def _past(elements: list[Any], at: int) -> int:
    """Where the element at `at` and those below it end."""
    children, at = elements[at].num_children or 0, at + 1
    for _ in range(children):
        at = _past(elements, at)
    return at


def _leaves(elements: list[Any]) -> list[tuple[list[str], Any]]:
    """A field's leaves (an element without children: some writers say 0, others nothing),
    each with its path, as its column chunks name it."""
    leaves, names, left = [], [], []  # the open groups' names, and the children each awaits
    for element in elements:
        while left and left[-1] == 0:
            left.pop()
            names.pop()
        if left:
            left[-1] -= 1
        if element.num_children:
            names.append(element.name)
            left.append(element.num_children)
        else:
            leaves.append(([*names, element.name], element))
    return leaves


def _chunk_range(meta: Any) -> tuple[int, int]:
    """Where a column chunk's pages begin, and their bytes: its dictionary page first where
    it has one (the rule Arrow's reader follows, `ComputeColumnChunkRange`, but for its
    allowance for parquet-mr before 1.2.9, whose sizes leave out the dictionary page's
    header: its files say no column order, so are not copied)."""
    start = meta.data_page_offset
    dictionary = meta.dictionary_page_offset
    if dictionary is not None and 0 < dictionary < start:
        start = dictionary
    return start, meta.total_compressed_size


def _copy_chunk(chunk: Any, source: BinaryIO, out: BinaryIO) -> Any:
    """`chunk`'s pages copied from `source` to the end of `out`, and its metadata moved
    with them. A bloom filter or a page index, stored apart from the pages, is not copied,
    and not named."""
    meta = chunk.meta_data
    start, size = _chunk_range(meta)
    shift = out.tell() - start
    source.seek(start)
    for offset in range(0, size, _PIECE):
        piece = source.read(min(_PIECE, size - offset))
        if not piece:  # the file changed under the run
            raise OSError(f"column {'.'.join(meta.path_in_schema)!r} ends early")
        out.write(piece)
    moved = PARQUET.ColumnMetaData(**vars(meta))
    moved.data_page_offset += shift
    for name in ("dictionary_page_offset", "index_page_offset"):
        if getattr(moved, name):
            setattr(moved, name, getattr(moved, name) + shift)
    moved.bloom_filter_offset = moved.bloom_filter_length = None
    return PARQUET.ColumnChunk(
        file_offset=chunk.file_offset + shift if chunk.file_offset else 0, meta_data=moved
    )


def _footer_of(table: pa.Table, options: dict[str, Any]) -> Any:
    """The footer pyarrow writes for `table` with `options`."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return read_footer(buffer)[0]
