"""Columns joined to a Parquet file with its own column chunks copied as stored: the result
is read back by pyarrow and, as an independent reader, DuckDB."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from thriftpy2.protocol import TCompactProtocolFactory
from thriftpy2.utils import serialize

from serving.parquet_join import MAGIC, CannotJoin, ColumnJoiner, read_footer

ADDED = pa.schema([pa.field("score", pa.float32()), pa.field("flag", pa.bool_())])


def _source(rows: int = 50) -> pa.Table:
    """Flat, nested, text, dictionary, time zone and nulls: every kind of leaf and level."""
    at = np.arange(rows)
    return pa.table(
        {
            "id": pa.array(at, pa.int64()),
            "name": pa.array([None if i % 11 == 0 else f"n{i % 7}" for i in at]),
            "kind": pa.array([f"k{i % 3}" for i in at]).dictionary_encode(),
            "when": pa.array(at * 3_600_000_000_000, pa.timestamp("ns", tz="UTC")),
            "gate": pa.array([{"terminal": f"T{i % 3}", "number": int(i % 5)} for i in at]),
            "legs": pa.array([list(range(i % 4)) for i in at], pa.list_(pa.int32())),
            "weight": pa.array([None if i % 9 == 0 else i / 7 for i in at]),
        }
    ).replace_schema_metadata({"owner": "tests"})


def _added(rows: int, seed: int) -> pa.Table:
    score = np.random.default_rng(seed).random(rows).astype(np.float32)
    return pa.table([score, score > 0.5], schema=ADDED)


def _join(source: Path, out: Path, kept: list[int], seed: int = 0) -> tuple[pa.Schema, pa.Table]:
    """The output's schema and the columns added, in the source's row groups."""
    stored = pq.read_schema(source)
    schema = pa.schema([*(stored.field(i) for i in kept), *ADDED], metadata=stored.metadata)
    added = []
    with (
        ColumnJoiner(source, schema, kept, use_dictionary=["flag"]) as joiner,
        open(out, "wb") as f,
    ):
        joiner.begin(f)
        for group, (_, rows) in enumerate(joiner.row_groups):
            added.append(_added(rows, seed + group))
            joiner.add(f, added[-1])
        joiner.finish(f)
    return schema, pa.concat_tables(added) if added else ADDED.empty_table()


def test_every_column_is_copied_as_stored_in_its_row_groups_and_the_added_follow(tmp_path):
    source = _source()
    pq.write_table(
        source, tmp_path / "in.parquet", row_group_size=20, compression="zstd",
        data_page_version="2.0",
    )  # fmt: skip

    schema, added = _join(tmp_path / "in.parquet", tmp_path / "out.parquet", list(range(7)))

    written = pq.ParquetFile(tmp_path / "out.parquet")
    assert written.schema_arrow.equals(schema, check_metadata=True)
    assert written.read().equals(_beside(source, added))
    meta = written.metadata
    assert [meta.row_group(g).num_rows for g in range(meta.num_row_groups)] == [20, 20, 10]
    stored = pq.ParquetFile(tmp_path / "in.parquet").metadata
    for g in range(meta.num_row_groups):
        for leaf in range(stored.num_columns):  # the pages as they were: zstd, their statistics
            copied, original = meta.row_group(g).column(leaf), stored.row_group(g).column(leaf)
            assert copied.compression == "ZSTD"
            assert copied.statistics == original.statistics
            assert copied.total_compressed_size == original.total_compressed_size
        assert meta.row_group(g).column(stored.num_columns).compression == "SNAPPY"
    # an independent reader finds the same values
    duck = duckdb.sql(f"SELECT * FROM '{tmp_path / 'out.parquet'}'").arrow().read_all()
    assert duck.column("score").to_pylist() == added.column("score").to_pylist()
    assert duck.column("gate").to_pylist() == source.column("gate").to_pylist()
    assert duck.column("legs").to_pylist() == source.column("legs").to_pylist()
    assert duck.column("name").to_pylist() == source.column("name").to_pylist()


def _beside(source: pa.Table, added: pa.Table) -> pa.Table:
    for name in added.column_names:
        source = source.append_column(added.schema.field(name), added.column(name))
    return source


def test_kept_columns_go_in_the_order_given(tmp_path):
    source = _source()
    pq.write_table(source, tmp_path / "in.parquet", row_group_size=30)

    _, added = _join(tmp_path / "in.parquet", tmp_path / "out.parquet", [4, 0, 2])

    written = pq.read_table(tmp_path / "out.parquet")
    assert written.column_names == ["gate", "id", "kind", "score", "flag"]
    assert written.equals(_beside(source.select([4, 0, 2]), added))


def test_a_page_index_and_a_bloom_filter_stay_behind_and_the_file_reads_whole(tmp_path):
    source = _source()
    pq.write_table(
        source, tmp_path / "in.parquet", row_group_size=25, write_page_index=True,
        bloom_filter_options={"id": True},
    )  # fmt: skip
    stored = pq.ParquetFile(tmp_path / "in.parquet").metadata.row_group(0).column(0)
    assert stored.has_offset_index and stored.has_column_index  # what the join leaves

    _, added = _join(tmp_path / "in.parquet", tmp_path / "out.parquet", list(range(7)))

    written = pq.ParquetFile(tmp_path / "out.parquet")
    copied = written.metadata.row_group(1).column(0)
    assert not copied.has_offset_index and not copied.has_column_index
    assert written.read().equals(_beside(source, added))
    count = duckdb.sql(f"SELECT count(*) FROM '{tmp_path / 'out.parquet'}' WHERE id = 31")
    assert count.fetchone() == (1,)


def test_an_empty_row_group_is_left_out_and_an_empty_file_joins(tmp_path):
    source = _source(12)
    with pq.ParquetWriter(tmp_path / "in.parquet", source.schema) as writer:
        writer.write_table(source.slice(0, 5))
        writer.write_table(source.slice(0, 0))
        writer.write_table(source.slice(5))
    _, added = _join(tmp_path / "in.parquet", tmp_path / "out.parquet", list(range(7)))
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == 2
    assert pq.read_table(tmp_path / "out.parquet").equals(_beside(source, added))

    pq.write_table(source.slice(0, 0), tmp_path / "empty.parquet")
    _join(tmp_path / "empty.parquet", tmp_path / "joined.parquet", [0, 1])
    assert pq.read_table(tmp_path / "joined.parquet").column_names == [
        "id", "name", "score", "flag",
    ]  # fmt: skip


def test_a_column_stored_otherwise_than_pyarrow_writes_it_cannot_be_copied(tmp_path):
    source = _source()
    pq.write_table(source, tmp_path / "in.parquet", use_deprecated_int96_timestamps=True)
    schema = pa.schema([*pq.read_schema(tmp_path / "in.parquet"), *ADDED])

    with pytest.raises(CannotJoin, match="column 'when' is stored otherwise"):
        ColumnJoiner(tmp_path / "in.parquet", schema, list(range(7)))
    # kept without it, the rest copy
    _join(tmp_path / "in.parquet", tmp_path / "out.parquet", [0, 1, 2])


def test_what_is_not_a_parquet_file_cannot_be_copied(tmp_path):
    with pytest.raises(CannotJoin, match="too short"):
        read_footer(io.BytesIO(b"PAR1PAR1"))
    pq.write_table(_source(), tmp_path / "in.parquet")
    body = (tmp_path / "in.parquet").read_bytes()
    with pytest.raises(CannotJoin, match="ends in b'PARE'"):
        read_footer(io.BytesIO(body[:-4] + b"PARE"))  # an encrypted footer
    with pytest.raises(CannotJoin, match="a footer of"):
        read_footer(io.BytesIO(body[:-8] + (10**6).to_bytes(4, "little") + b"PAR1"))


def test_rows_are_added_to_each_row_group_whole_and_every_group_before_the_footer(tmp_path):
    pq.write_table(_source(), tmp_path / "in.parquet", row_group_size=30)
    schema = pa.schema([pq.read_schema(tmp_path / "in.parquet").field(0), *ADDED])
    with ColumnJoiner(tmp_path / "in.parquet", schema, [0]) as joiner:
        out = io.BytesIO()
        joiner.begin(out)
        with pytest.raises(ValueError, match="29 rows to add to a row group of 30"):
            joiner.add(out, _added(29, 0))
        joiner.add(out, _added(30, 0))
        with pytest.raises(ValueError, match="1 of 2 row groups written"):
            joiner.finish(out)


def test_a_row_group_may_be_written_as_rows_instead_of_copied(tmp_path):
    """The third, less its first row, in two row groups of its own; the second holds none."""
    source = _source(30)
    with pq.ParquetWriter(tmp_path / "in.parquet", source.schema, compression="zstd") as writer:
        for start, rows in ((0, 10), (10, 0), (10, 10), (20, 10)):
            writer.write_table(source.slice(start, rows))
    stored = pq.read_schema(tmp_path / "in.parquet")
    schema = pa.schema([*stored, *ADDED], metadata=stored.metadata)
    added = [_added(10, seed) for seed in range(3)]

    with ColumnJoiner(tmp_path / "in.parquet", schema, range(7)) as joiner:
        assert joiner.row_groups == [(0, 10), (2, 10), (3, 10)]  # places in the file, rows
        with open(tmp_path / "out.parquet", "wb") as out:
            joiner.begin(out)
            joiner.add(out, added[0])
            with joiner.rows(out) as write:
                for start, rows in ((1, 4), (5, 5)):
                    part = _beside(source.slice(10 + start, rows), added[1].slice(start, rows))
                    write(part.combine_chunks().to_batches()[0])
            joiner.add(out, added[2])
            with pytest.raises(ValueError, match="the 3 row groups are written"):
                with joiner.rows(out):
                    pass
            joiner.finish(out)

    written = pq.ParquetFile(tmp_path / "out.parquet")
    meta = written.metadata
    layout = [
        (meta.row_group(g).num_rows, meta.row_group(g).column(0).compression) for g in range(4)
    ]
    assert layout == [(10, "ZSTD"), (4, "SNAPPY"), (5, "SNAPPY"), (10, "ZSTD")]
    kept = [i for i in range(30) if i != 10]
    assert written.read().equals(_beside(source.take(kept), pa.concat_tables(added).take(kept)))


def _doctored(path: Path, change) -> None:
    """`path`'s footer changed in place by `change(footer)`, as another writer might lay it."""
    body = path.read_bytes()
    footer, start = read_footer(io.BytesIO(body))
    change(footer)
    encoded = serialize(footer, TCompactProtocolFactory())
    path.write_bytes(body[:start] + encoded + struct.pack("<i", len(encoded)) + MAGIC)


def test_a_leaf_said_to_have_no_children_is_a_leaf_whichever_way_it_says_so(tmp_path):
    """0 children (old parquet-cpp, old DuckDB) rather than none: the columns after it are
    still copied from their own chunks."""
    table = pa.table({"a": pa.array(range(0, 1000, 100)), "b": pa.array(range(10))})
    pq.write_table(table, tmp_path / "in.parquet")

    def zero_children(footer):
        footer.schema[1].num_children = 0

    _doctored(tmp_path / "in.parquet", zero_children)
    assert pq.read_table(tmp_path / "in.parquet").equals(table)  # readers take it so

    _, added = _join(tmp_path / "in.parquet", tmp_path / "out.parquet", [1])
    assert pq.read_table(tmp_path / "out.parquet")["b"].to_pylist() == list(range(10))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: setattr(f, "column_orders", None), "ordered otherwise .* not said"),
        (
            lambda f: setattr(f.row_groups[0].columns[1].meta_data, "path_in_schema", ["a"]),
            r"a column chunk of 'a' \(type 2\) where the schema has 'b' \(type 2\)",
        ),
        (
            lambda f: setattr(f.row_groups[0].columns[1].meta_data, "type", 1),
            r"a column chunk of 'b' \(type 1\) where the schema has 'b' \(type 2\)",
        ),
        (lambda f: setattr(f.row_groups[0], "num_rows", (64 << 20) + 1), "a row group of"),
        (
            lambda f: setattr(f.row_groups[0].columns[1].meta_data, "total_compressed_size", 10**9),
            "beyond the",
        ),
        (
            lambda f: setattr(f.row_groups[0].columns[1].meta_data, "data_page_offset", 10**9),
            "data pages at",
        ),
        (lambda f: setattr(f.row_groups[0].columns[1], "file_path", "x.parquet"), "stored in"),
    ],
    ids=[
        "no column order",
        "a chunk of another column",
        "a chunk of another type",
        "too many rows",
        "beyond the file",
        "data pages beyond",
        "elsewhere",
    ],
)
def test_a_footer_that_cannot_be_copied_faithfully_is_refused(tmp_path, change, message):
    table = pa.table({"a": pa.array(range(10)), "b": pa.array(range(10))})
    pq.write_table(table, tmp_path / "in.parquet")
    _doctored(tmp_path / "in.parquet", change)
    schema = pa.schema([table.schema.field("b"), *ADDED])
    with pytest.raises(CannotJoin, match=message):
        ColumnJoiner(tmp_path / "in.parquet", schema, [1])


def test_the_footer_names_the_sources_writer_whose_pages_it_holds(tmp_path):
    """A reader corrects some writers' pages and statistics by the writer's name: Arrow takes
    a version 2 data page of parquet-cpp before 2.0 as compressed whatever its header says
    (ARROW-10353), so the added columns go in version 1 pages, whatever the options say."""
    table = pa.table({"a": pa.array(range(40)), "b": pa.array(range(40))})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=20)
    old = "parquet-cpp version 1.5.1-SNAPSHOT"

    def named(writer):
        def change(footer):
            footer.created_by = writer

        return change

    _doctored(tmp_path / "in.parquet", named(old))
    schema = pa.schema([*table.schema, *ADDED])
    added = [_added(20, seed) for seed in range(2)]

    def joined(rows_for: set[int]) -> pq.ParquetFile:
        options = {"data_page_version": "2.0"}  # incompressible pages would say so
        with (
            ColumnJoiner(tmp_path / "in.parquet", schema, [0, 1], **options) as joiner,
            open(tmp_path / "out.parquet", "wb") as out,
        ):
            joiner.begin(out)
            for group in range(2):
                if group in rows_for:
                    with joiner.rows(out) as write:
                        write(_beside(table.slice(20 * group, 20), added[group]).to_batches()[0])
                else:
                    joiner.add(out, added[group])
            joiner.finish(out)
        written = pq.ParquetFile(tmp_path / "out.parquet")
        assert written.read().equals(_beside(table, pa.concat_tables(added)))
        return written

    assert joined({1}).metadata.created_by == old
    # no chunk copied: pyarrow's pages alone, its name
    assert joined({0, 1}).metadata.created_by.startswith("parquet-cpp-arrow version")
    # a writer unsaid stays unsaid
    _doctored(tmp_path / "in.parquet", named(None))
    joined(set())
    with open(tmp_path / "out.parquet", "rb") as out:
        assert read_footer(out)[0].created_by is None
