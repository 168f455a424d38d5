"""`sluice predict` streams a Parquet file in record batches: each test cuts a small file
into batches of 7 rows, so that every rule meets a row past the first batch. Both graphs
the artifact loads are scored: one that takes the raw features (exported here from a seeded
net over the legacy model's layout), fed codes as `sluice predict` feeds it and fed text as
a graph without lookups is, and the legacy one that takes codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import serving.batch
from components.base.contract.artifact import ModelArtifact
from pipelines.cli import app
from serving.batch import BatchResult, OutputColumns, OutputColumnsError, predict_file
from serving.request_errors import RequestError
from tests.model_fixtures import LEGACY, exported_raw_model

BATCH = 7


@pytest.fixture(scope="module", params=["raw", "legacy", "raw fed text"])
def model(request, tmp_path_factory) -> ModelArtifact:
    """Loaded as `sluice predict` loads them (`codes=True`), and once without codes, as a
    graph that reads its categories otherwise would be fed."""
    if request.param == "legacy":
        return ModelArtifact(LEGACY, codes=True)
    exported = exported_raw_model(tmp_path_factory.mktemp("raw"))
    return ModelArtifact(exported.directory, codes=request.param == "raw")


def _flights(model: ModelArtifact) -> pd.DataFrame:
    """The 40 reference rows with what a real input also holds: an unknown and a missing
    carrier, a missing optional number, and columns the model does not read."""
    frame = pd.DataFrame(model.metadata.reference_sample)
    frame.loc[9, "carrier"] = "ZZ"
    frame.loc[23, "carrier"] = None
    frame.loc[31, "temp"] = np.nan
    when = pd.date_range("2013-10-01", periods=len(frame), freq="h", tz="America/New_York")
    return frame.assign(tailnum=[f"N{i}" for i in range(len(frame))], time_hour=when)


def test_streamed_batches_score_as_the_whole_frame(model, tmp_path):
    frame = _flights(model)
    # row groups of 16 rows: pyarrow ends a batch of 7 at each, text read as dictionaries
    frame.to_parquet(tmp_path / "in.parquet", index=False, row_group_size=16, compression="zstd")

    # model calls of 3 rows, side by side, within batches of 7
    result = predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH, 3)

    probability, unseen = model.predict_frame(frame)  # the whole frame, through pandas
    scored = pq.read_table(tmp_path / "out.parquet")
    source = pq.read_table(tmp_path / "in.parquet")
    # the input's columns copied as stored (zstd), in its row groups, the scores beside them
    written = pq.ParquetFile(tmp_path / "out.parquet").metadata
    groups = [written.row_group(g) for g in range(written.num_row_groups)]
    assert result.copied and [group.num_rows for group in groups] == [16, 16, 8]
    assert {group.column(0).compression for group in groups} == {"ZSTD"}
    assert {group.column(written.num_columns - 1).compression for group in groups} == {"SNAPPY"}
    assert result.rows == scored.num_rows == 40
    assert result.unseen == unseen == {"carrier": 2, "origin": 0, "dest": 0}
    np.testing.assert_array_equal(scored["probability"].to_numpy(), probability)
    assert scored["delayed"].to_pylist() == (probability >= model.threshold).tolist()
    # every input column as it was, and the schema (pandas metadata included) with two more
    assert scored.select(source.column_names).equals(source)
    assert scored.schema.equals(
        source.schema.append(pa.field("probability", pa.float32())).append(
            pa.field("delayed", pa.bool_())
        ),
        check_metadata=True,
    )


def test_the_probability_alone_is_written_without_a_dictionary(model, tmp_path):
    """A nested column's leaves (Parquet's `gate.terminal`) keep theirs."""
    table = pa.Table.from_pandas(_flights(model), preserve_index=False)
    gates = [{"terminal": f"T{i % 3}", "number": i % 5} for i in range(table.num_rows)]
    pq.write_table(table.append_column("gate", pa.array(gates)), tmp_path / "in.parquet")
    columns = OutputColumns(probability="p")
    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", columns=columns)

    chunks = pq.ParquetFile(tmp_path / "out.parquet").metadata.row_group(0)
    dictionary = {
        chunks.column(i).path_in_schema: chunks.column(i).has_dictionary_page
        for i in range(chunks.num_columns)
    }
    assert dictionary.pop("p") is False
    assert dictionary["carrier"] and dictionary["distance"] and dictionary["tailnum"]
    assert dictionary["gate.terminal"] and dictionary["gate.number"]


def test_the_categories_reach_the_model_as_its_own_codes(model, tmp_path, monkeypatch, request):
    """Each distinct value is looked up once (`ModelArtifact.lookups`), and the graph reads
    no text; the scores are the text's (`test_streamed_batches_score_as_the_whole_frame`).
    Without lookups, the text goes."""
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)
    fed = []
    predict_arrays = model.predict_arrays
    monkeypatch.setattr(
        model, "predict_arrays", lambda *arrays: fed.append(arrays) or predict_arrays(*arrays)
    )

    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)

    categories = np.concatenate([categorical for categorical, _ in fed])
    assert (model.lookups is None) == (request.node.callspec.params["model"] == "raw fed text")
    if model.lookups is None:
        assert categories.tolist() == model.layout.text_matrix(_flights(model)).tolist()
    else:
        assert categories.dtype == np.int64
        codes = model.layout.encode_categorical(_flights(model))
        np.testing.assert_array_equal(categories, codes)


def test_the_benchmarks_whole_file_baseline_writes_what_the_stream_writes(model, tmp_path):
    """`bench_batch` measures the stream against the path it replaced: the same file."""
    from tests.benchmarks.bench_batch import whole_file

    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)
    predict_file(model, tmp_path / "in.parquet", tmp_path / "streamed.parquet", BATCH)
    whole_file(model, tmp_path / "in.parquet", tmp_path / "whole.parquet", OutputColumns())
    whole = pq.read_table(tmp_path / "whole.parquet")
    assert pq.read_table(tmp_path / "streamed.parquet").equals(whole, check_metadata=True)


def test_a_bad_row_in_a_later_batch_is_named_and_nothing_is_written(model, tmp_path):
    frame = _flights(model)
    frame.loc[30, "hour"] = 99  # in the fifth batch, across row groups of 9
    frame.to_parquet(tmp_path / "in.parquet", index=False, row_group_size=9)
    (tmp_path / "out.parquet").write_text("an earlier output")

    with pytest.raises(RequestError, match=r"feature 'hour' row 30: 99 is outside \[0, 23\]"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)

    assert (tmp_path / "out.parquet").read_text() == "an earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]


def test_a_required_value_missing_past_the_first_batch_is_named(model, tmp_path):
    frame = _flights(model)
    frame.loc[16, "distance"] = np.nan
    frame.to_parquet(tmp_path / "in.parquet", index=False)

    with pytest.raises(RequestError, match=r"feature 'distance' row 16: a value is required"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)
    assert not (tmp_path / "out.parquet").exists()


def _refusable(model: ModelArtifact) -> tuple[pd.DataFrame, list[int]]:
    """The flights with rows the server would refuse in three batches of 7, the last batch
    (rows 35 to 39) all of them, and those rows."""
    frame = _flights(model)
    frame.loc[3, "hour"] = 99
    frame.loc[16, "distance"] = np.nan
    frame.loc[30, ["month", "temp"]] = [13, np.inf]
    frame.loc[35:, "hour"] = -1
    return frame, [3, 16, 30, 35, 36, 37, 38, 39]


def _quarantined(model: ModelArtifact, tmp_path, **options) -> BatchResult:
    """in.parquet scored into out.parquet in batches of 7, the refused rows set aside in
    aside.parquet."""
    return predict_file(
        model,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        BATCH,
        quarantine=tmp_path / "aside.parquet",
        **options,
    )


@pytest.mark.parametrize(
    ("group_rows", "copied"),
    [(None, []), (5, [5, 10, 20, 25])],
    ids=["one row group", "row groups of 5"],
)
def test_a_quarantine_takes_the_refused_rows_and_the_rest_are_scored(
    model, tmp_path, group_rows, copied
):
    """A row group with rows set aside is read again and written without them, a row group
    a batch; the others are copied as stored (their first rows `copied`)."""
    frame, refused = _refusable(model)
    frame.to_parquet(
        tmp_path / "in.parquet", index=False, row_group_size=group_rows, compression="zstd"
    )

    result = _quarantined(model, tmp_path, slice_rows=3)

    source = pq.read_table(tmp_path / "in.parquet")
    good = [row for row in range(40) if row not in refused]
    probability, unseen = model.predict_frame(frame.iloc[good])
    scored = pq.read_table(tmp_path / "out.parquet")
    assert result.rows == 40 and result.quarantined == 8 and result.copied
    # rows 35 to 39, the last batch, all set aside: no empty row group for them
    written = pq.ParquetFile(tmp_path / "out.parquet").metadata
    groups = [written.row_group(g) for g in range(written.num_row_groups)]
    starts = np.cumsum([0, *(group.num_rows for group in groups)])[:-1]
    first_rows = [good[start] for start in starts]
    # one row group read again in batches: 0-6 less 3, 7-13, 14-20 less 16, 21-27, 28-34 less
    # 30; or in groups of 5, those holding 3, 16 and 30 read again, the others copied
    expected = [0, 7, 14, 21, 28] if group_rows is None else [0, 5, 10, 15, 20, 25, 31]
    assert first_rows == expected
    for start, group in zip(first_rows, groups, strict=True):
        assert group.column(0).compression == ("ZSTD" if start in copied else "SNAPPY")
    assert result.unseen == unseen == {"carrier": 2, "origin": 0, "dest": 0}
    assert scored.select(source.column_names).equals(source.take(good))
    np.testing.assert_array_equal(scored["probability"].to_numpy(), probability)
    aside = pq.read_table(tmp_path / "aside.parquet")
    assert aside.column_names == ["_row", "_reasons", *source.column_names]
    assert aside["_row"].to_pylist() == refused
    assert aside.select(source.column_names).equals(source.take(refused))  # text as text
    reasons = dict(zip(refused, aside["_reasons"].to_pylist(), strict=True))
    assert reasons[3] == "feature 'hour': 99 is outside [0, 23]"
    assert reasons[16] == "feature 'distance': a value is required (got NaN/null)"
    assert reasons[30] == (
        "feature 'temp': inf is not allowed; feature 'month': 13 is outside [1, 12]"
    )
    assert aside.schema.metadata is None  # pandas' described the input's columns
    assert pd.read_parquet(tmp_path / "aside.parquet")["time_hour"].equals(
        frame["time_hour"].iloc[refused].reset_index(drop=True)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aside.parquet",
        "in.parquet",
        "out.parquet",
    ]


def test_a_quarantine_holds_the_kept_columns_and_the_features(model, tmp_path):
    frame, refused = _refusable(model)
    frame.to_parquet(tmp_path / "in.parquet", index=False)

    _quarantined(model, tmp_path, columns=OutputColumns(keep=("tailnum",)))

    aside = pq.read_table(tmp_path / "aside.parquet")
    assert aside.column_names == ["_row", "_reasons", "tailnum", *model.layout.features]
    assert aside["tailnum"].to_pylist() == [f"N{row}" for row in refused]


def test_an_input_column_named_as_the_quarantines_own_may_stay_behind(model, tmp_path):
    """Only a column written along would clash with `_row`: one left out is no matter."""
    frame, refused = _refusable(model)
    frame.assign(_row=-1).to_parquet(tmp_path / "in.parquet", index=False)

    _quarantined(model, tmp_path, columns=OutputColumns(keep=("tailnum",)))

    assert pq.read_table(tmp_path / "aside.parquet")["_row"].to_pylist() == refused


def test_a_quarantine_is_written_empty_when_every_row_passes(model, tmp_path):
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)

    result = _quarantined(model, tmp_path)

    aside = pq.read_table(tmp_path / "aside.parquet")
    assert result.quarantined == aside.num_rows == 0
    assert aside.column_names[:2] == ["_row", "_reasons"]
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 40


def test_a_run_that_fails_leaves_an_earlier_quarantine_as_it_was(model, tmp_path):
    frame, _ = _refusable(model)
    frame = frame.astype({"wind_speed": str})
    frame.loc[12, "wind_speed"] = "calm"
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    (tmp_path / "aside.parquet").write_text("an earlier quarantine")

    with pytest.raises(RequestError, match="'wind_speed': expected numbers"):
        _quarantined(model, tmp_path)

    assert (tmp_path / "aside.parquet").read_text() == "an earlier quarantine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aside.parquet", "in.parquet"]


def test_a_move_that_fails_at_the_end_leaves_the_output_as_it_was(model, tmp_path, monkeypatch):
    """The quarantine is moved first; its move failing (a fault put here) leaves both files
    as they were and no temporary file."""
    frame, _ = _refusable(model)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    (tmp_path / "out.parquet").write_text("an earlier output")
    (tmp_path / "aside.parquet").write_text("an earlier quarantine")
    replace = Path.replace

    def failing(self, target):
        if self.name == ".aside.parquet.partial":
            raise OSError("disk gone")
        return replace(self, target)

    monkeypatch.setattr(Path, "replace", failing)
    with pytest.raises(OSError, match="disk gone"):
        _quarantined(model, tmp_path)

    assert (tmp_path / "out.parquet").read_text() == "an earlier output"
    assert (tmp_path / "aside.parquet").read_text() == "an earlier quarantine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aside.parquet",
        "in.parquet",
        "out.parquet",
    ]


def test_a_run_that_fails_removes_only_the_temporary_files_it_began(model, tmp_path):
    """Another run's temporary quarantine stays when this one fails before its own begins
    (here: the output's folder is missing)."""
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)
    (tmp_path / ".aside.parquet.partial").write_text("another run's")

    with pytest.raises(FileNotFoundError):
        predict_file(
            model,
            tmp_path / "in.parquet",
            tmp_path / "no folder" / "out.parquet",
            BATCH,
            quarantine=tmp_path / "aside.parquet",
        )

    assert (tmp_path / ".aside.parquet.partial").read_text() == "another run's"


@pytest.mark.parametrize(
    ("source", "destination", "quarantine", "message"),
    [
        ("in.parquet", "out.parquet", "out.parquet", "the quarantine would be the output"),
        ("in.parquet", "out.parquet", "in.parquet", "the quarantine would be the input"),
        ("in.parquet", "out.parquet", "folder/../out.parquet", "quarantine would be the output"),
        (
            "in.parquet",
            "out.parquet",
            ".out.parquet.partial",
            "the quarantine would be the output's temporary file",
        ),
        (".q.parquet.partial", "out.parquet", "q.parquet", "temporary file would be the input"),
        ("in.parquet", "in.parquet", "folder", "the quarantine is a folder"),
        ("in.parquet", "folder", None, "the output is a folder"),
        ("in.parquet", "x.parquet", None, "the output's temporary file is a folder"),
        ("in.parquet", "out.parquet", "x.parquet", "the quarantine's temporary file is a folder"),
        ("labelled.parquet", "out.parquet", "q.parquet", r"quarantine's own: \['_row'\]"),
    ],
    ids=[
        "output",
        "input",
        "the output spelled otherwise",
        "the output's partial",
        "the input as the quarantine's partial",
        "a folder",
        "the output a folder",
        "the output's partial a folder",
        "the quarantine's partial a folder",
        "a column named _row",
    ],
)
def test_each_file_written_is_a_file_of_its_own_and_nothing_is_written_otherwise(
    model, tmp_path, source, destination, quarantine, message
):
    """The quarantine and the output, and the files each is written as until the end,
    are checked before a row is read, so no move fails with one file in place."""
    frame = _flights(model)
    (tmp_path / "folder").mkdir()
    (tmp_path / ".x.parquet.partial").mkdir()
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    frame.to_parquet(tmp_path / ".q.parquet.partial", index=False)
    frame.assign(_row=1).to_parquet(tmp_path / "labelled.parquet", index=False)
    before = sorted(p.name for p in tmp_path.iterdir())

    with pytest.raises(OutputColumnsError, match=message):
        predict_file(
            model,
            tmp_path / source,
            tmp_path / destination,
            BATCH,
            quarantine=None if quarantine is None else tmp_path / quarantine,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_output_may_replace_the_input(model, tmp_path):
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)

    predict_file(model, tmp_path / "in.parquet", tmp_path / "in.parquet", BATCH)

    assert pq.read_table(tmp_path / "in.parquet").num_rows == 40
    assert pq.read_schema(tmp_path / "in.parquet").names[-2:] == ["probability", "delayed"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_a_column_of_text_where_numbers_belong_is_refused_by_name(model, tmp_path):
    frame = _flights(model).astype({"wind_speed": str})
    frame.loc[12, "wind_speed"] = "calm"
    frame.to_parquet(tmp_path / "in.parquet", index=False)

    with pytest.raises(RequestError, match=r"feature 'wind_speed': expected numbers.*calm"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)


def test_a_missing_feature_column_is_named(model, tmp_path):
    _flights(model).drop(columns=["pressure"]).to_parquet(tmp_path / "in.parquet")

    with pytest.raises(KeyError, match=r"missing feature column\(s\) \['pressure'\]"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)
    assert not (tmp_path / "out.parquet").exists()


def test_an_empty_file_gives_an_empty_output_with_the_scores_schema(model, tmp_path):
    _flights(model).head(0).to_parquet(tmp_path / "in.parquet", index=False)

    result = predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)

    scored = pq.read_table(tmp_path / "out.parquet")
    assert result.rows == scored.num_rows == 0
    assert result.unseen == {"carrier": 0, "origin": 0, "dest": 0}
    assert scored.column_names[-2:] == ["probability", "delayed"]


def test_sluice_predict_reports_the_unseen_values_and_names_a_bad_row(model, tmp_path):
    frame = _flights(model)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    frame.assign(month=frame["month"].where(frame.index != 38, 13)).to_parquet(
        tmp_path / "bad.parquet", index=False
    )

    def predict(source: str, *flags: str):
        return CliRunner().invoke(
            app,
            ["predict", str(tmp_path / source), str(tmp_path / "out.parquet"), *flags]
            + ["--model", str(model.directory), "--batch-rows", str(BATCH)],
        )

    def row_groups() -> int:
        return pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups

    scored = predict("in.parquet")
    assert scored.exit_code == 0, scored.output
    assert "scored 40 rows" in scored.output
    assert "out of vocabulary (scored as unseen): carrier 2" in scored.output
    assert "decoded" not in scored.output
    assert row_groups() == 1  # the input's, copied
    assert predict("in.parquet", "--no-copy").exit_code == 0
    assert row_groups() == 6  # a batch's each, decoded and encoded again
    # a file whose columns cannot be copied says why
    pq.write_table(
        pq.read_table(tmp_path / "in.parquet"),
        tmp_path / "int96.parquet",
        use_deprecated_int96_timestamps=True,
    )
    decoded = predict("int96.parquet")
    assert decoded.exit_code == 0, decoded.output
    said = " ".join(decoded.output.split())
    assert "the columns written along were decoded, not copied: " in said
    assert "column 'time_hour' is stored otherwise than pyarrow writes it" in said
    refused = predict("bad.parquet")
    assert refused.exit_code == 2
    assert "bad.parquet: feature 'month' row 38: 13 is outside [1, 12]" in refused.output


def test_sluice_predict_sets_refused_rows_aside_when_told(model, tmp_path):
    frame, _ = _refusable(model)
    frame.to_parquet(tmp_path / "in.parquet", index=False)

    def predict(quarantine, model_dir=model.directory, source="in.parquet"):
        return CliRunner().invoke(
            app,
            ["predict", str(tmp_path / source), str(tmp_path / "out.parquet")]
            + ["--model", str(model_dir), "--quarantine", str(quarantine)],
        )

    done = predict(tmp_path / "aside.parquet")
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "scored 32 rows" in said
    aside = tmp_path / "aside.parquet"
    assert f"set aside 8 of 40 rows, which the server would refuse → {aside}" in said
    frame.assign(_row=0).to_parquet(tmp_path / "labelled.parquet", index=False)
    for source, quarantine, message in (
        ("in.parquet", tmp_path / "no folder" / "q.parquet", "(the quarantine's folder) does"),
        ("in.parquet", tmp_path / "out.parquet", "the quarantine would be the output"),
        ("labelled.parquet", aside, "named as the quarantine's own: ['_row']"),
    ):
        refused = predict(quarantine, tmp_path / "no model here", source)  # before the model
        assert refused.exit_code == 2, refused.output
        assert message in " ".join(refused.output.split())


def test_sluice_predict_refuses_the_folder_it_runs_in_and_a_link_loop_as_files_to_write(
    model, tmp_path, monkeypatch
):
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)
    monkeypatch.chdir(tmp_path)

    for paths, what in ((["."], "output"), (["out.parquet", "--quarantine", "."], "quarantine")):
        refused = CliRunner().invoke(app, ["predict", "in.parquet", *paths, "--model", "none"])
        assert refused.exit_code == 2, refused.output
        assert f".: the {what} is a folder" in refused.output
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    looped = CliRunner().invoke(app, ["predict", "in.parquet", "loop", "--model", "none"])
    assert looped.exit_code == 2, looped.output
    assert "loop:" in looped.output and "none" not in looped.output


def test_a_labelled_file_is_refused_until_its_decision_is_named_otherwise(model, tmp_path):
    """The training label and the decision are both `delayed`: the output would hold two
    columns of one name, which pandas cannot read."""
    frame = _flights(model).assign(delayed=np.arange(40) % 2)
    frame.to_parquet(tmp_path / "in.parquet", index=False)

    with pytest.raises(
        OutputColumnsError, match=r"in.parquet: .* named as a score .*\['delayed'\]"
    ):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)
    assert not (tmp_path / "out.parquet").exists()

    named = OutputColumns(decision="predicted_delayed")
    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH, columns=named)
    scored = pd.read_parquet(tmp_path / "out.parquet")
    probability, _ = model.predict_frame(frame)
    assert scored["delayed"].tolist() == frame["delayed"].tolist()  # the label, untouched
    assert scored["predicted_delayed"].tolist() == (probability >= model.threshold).tolist()


def test_kept_columns_go_in_their_order_with_the_scores_and_without_pandas_metadata(
    model, tmp_path
):
    frame = _flights(model)
    frame.to_parquet(tmp_path / "in.parquet", index=False)
    keep = OutputColumns(keep=("tailnum", "time_hour", "carrier"), probability="p")

    result = predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH, 3, keep)

    probability, unseen = model.predict_frame(frame)
    scored = pq.read_table(tmp_path / "out.parquet")
    assert scored.column_names == ["tailnum", "time_hour", "carrier", "p", "delayed"]
    assert result.rows == 40 and result.unseen == unseen
    np.testing.assert_array_equal(scored["p"].to_numpy(), probability)
    source = pq.read_table(tmp_path / "in.parquet")
    assert scored.select(["tailnum", "time_hour", "carrier"]).equals(
        source.select(["tailnum", "time_hour", "carrier"])
    )
    assert b"pandas" in source.schema.metadata and scored.schema.metadata is None
    assert str(pd.read_parquet(tmp_path / "out.parquet")["time_hour"].dt.tz) == "America/New_York"


def test_keeping_no_column_writes_the_scores_alone(model, tmp_path):
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)

    result = predict_file(
        model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH, 3, OutputColumns(())
    )

    scored = pq.read_table(tmp_path / "out.parquet")
    assert scored.column_names == ["probability", "delayed"] and scored.num_rows == 40
    # nothing to copy: a row group a batch, each written as soon as it is scored
    assert not result.copied
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == 6


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (OutputColumns(keep=("tailnum", "gate")), r"no column\(s\) \['gate'\] to keep"),
        (OutputColumns(keep=("carrier",), probability="carrier"), r"\['carrier'\]"),
    ],
)
def test_output_columns_that_cannot_be_are_refused_before_anything_is_written(
    model, tmp_path, columns, message
):
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)

    with pytest.raises(OutputColumnsError, match=message):
        predict_file(
            model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH, columns=columns
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_sluice_predict_keeps_and_names_columns_as_told(model, tmp_path):
    frame = _flights(model).assign(delayed=True)
    frame.to_parquet(tmp_path / "in.parquet", index=False)

    def predict(*options: str):
        return CliRunner().invoke(
            app,
            ["predict", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet")]
            + ["--model", str(model.directory), *options],
        )

    refused = predict()
    assert refused.exit_code == 2
    assert "named as a score would be: ['delayed']" in refused.output
    scored = predict("--keep", "tailnum, delayed", "--decision-column", "predicted")
    assert scored.exit_code == 0, scored.output
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.column_names == ["tailnum", "delayed", "probability", "predicted"]


def _with_metadata(table: pa.Table, path) -> None:
    """The table with a key of sluice's own beside pandas', as the training frame has."""
    extra = {**table.schema.metadata, b"sluice.horizon_minutes": b"120.0"}
    pq.write_table(table.replace_schema_metadata(extra), path)


def test_kept_columns_and_the_features_are_all_that_is_read_and_other_metadata_stays(
    model, tmp_path, monkeypatch
):
    """The features alone are decoded, the kept columns copied as stored; a row group with a
    row set aside is read again, the kept columns and the features."""
    frame = _flights(model)
    _with_metadata(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "in.parquet")
    frame.loc[3, "hour"] = 99
    _with_metadata(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "bad.parquet")
    asked = []
    iter_batches = pq.ParquetFile.iter_batches
    monkeypatch.setattr(
        pq.ParquetFile,
        "iter_batches",
        lambda self, *args, **kwargs: (
            asked.append(kwargs["columns"]) or iter_batches(self, *args, **kwargs)
        ),
    )

    keep = OutputColumns(keep=("tailnum", "carrier", "tailnum"))
    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH, columns=keep)
    quarantined = tmp_path / "quarantined.parquet"
    aside = tmp_path / "aside.parquet"
    predict_file(
        model, tmp_path / "bad.parquet", quarantined, BATCH, columns=keep, quarantine=aside
    )

    features = list(model.layout.features)
    # carrier once, time_hour never
    assert asked == [features, features, ["tailnum", *features]]
    for written in (tmp_path / "out.parquet", quarantined):
        scored = pq.read_table(written)
        assert scored.column_names == ["tailnum", "carrier", "probability", "delayed"]
        assert scored.schema.metadata == {b"sluice.horizon_minutes": b"120.0"}
    whole = pq.read_table(tmp_path / "out.parquet")
    assert pq.read_table(quarantined).equals(whole.take([i for i in range(40) if i != 3]))
    assert pq.read_table(aside)["tailnum"].to_pylist() == ["N3"]


def test_columns_copied_as_stored_read_back_as_those_decoded_and_written_again(model, tmp_path):
    table = pa.Table.from_pandas(_flights(model), preserve_index=False)
    gates = [{"terminal": f"T{i % 3}", "number": i % 5} for i in range(table.num_rows)]
    table = table.append_column("gate", pa.array(gates))
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=16, compression="zstd")

    copied = predict_file(model, tmp_path / "in.parquet", tmp_path / "copied.parquet", BATCH)
    decoded = predict_file(
        model, tmp_path / "in.parquet", tmp_path / "decoded.parquet", BATCH, copy=False
    )

    assert copied.copied and not decoded.copied and decoded.decoded_why is None
    written = pq.ParquetFile(tmp_path / "decoded.parquet").metadata.row_group(0).column(0)
    assert written.compression == "SNAPPY"  # pyarrow's default, not the input's zstd
    one, other = (pq.read_table(tmp_path / f"{name}.parquet") for name in ("copied", "decoded"))
    assert one.equals(other) and one.schema.equals(other.schema, check_metadata=True)


def test_a_file_the_join_cannot_copy_is_decoded_and_written_in_batches(model, tmp_path):
    """A timestamp stored as Parquet's old INT96, which pyarrow reads but writes otherwise."""
    frame = _flights(model)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table, tmp_path / "in.parquet", use_deprecated_int96_timestamps=True)

    result = predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)

    written = pq.ParquetFile(tmp_path / "out.parquet")
    assert not result.copied and written.metadata.num_row_groups == 6  # 40 = 5 x 7 + 5
    source = pq.read_table(tmp_path / "in.parquet")
    assert written.read().select(source.column_names).equals(source)
    probability, _ = model.predict_frame(frame)
    np.testing.assert_array_equal(written.read()["probability"].to_numpy(), probability)


def test_a_file_repeating_a_name_is_written_whole_by_position_but_not_kept_by_name(model, tmp_path):
    table = pa.Table.from_pandas(_flights(model), preserve_index=False)
    table = table.append_column("tailnum", pa.array([f"second {i}" for i in range(40)]))
    pq.write_table(table, tmp_path / "in.parquet")

    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)
    scored = pq.ParquetFile(tmp_path / "out.parquet").read()  # read_table refuses the repeat
    assert scored.column_names.count("tailnum") == 2
    assert scored.select(range(table.num_columns)).equals(table)

    with pytest.raises(OutputColumnsError, match=r"\['tailnum'\] appear more than once"):
        predict_file(
            model,
            tmp_path / "in.parquet",
            tmp_path / "kept.parquet",
            columns=OutputColumns(("tailnum",)),
        )
    assert not (tmp_path / "kept.parquet").exists()


def test_scores_need_two_distinct_names():
    with pytest.raises(OutputColumnsError, match="each need a name"):
        OutputColumns(probability="")
    with pytest.raises(OutputColumnsError, match="cannot share the name 'p'"):
        OutputColumns(probability="p", decision="p")


def test_sluice_predict_writes_the_scores_alone_and_checks_names_before_the_model(model, tmp_path):
    """Every refusal that needs only the file's schema comes before the model is resolved
    (here: a directory that does not exist)."""
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)

    def predict(*options: str):
        return CliRunner().invoke(
            app, ["predict", str(tmp_path / "in.parquet"), str(tmp_path / "out.parquet"), *options]
        )

    alone = predict("--model", str(model.directory), "--keep", "")
    assert alone.exit_code == 0, alone.output
    assert pq.read_table(tmp_path / "out.parquet").column_names == ["probability", "delayed"]
    unnamed = predict(
        "--model", str(tmp_path / "no model here"), "--decision-column", "probability"
    )
    assert unnamed.exit_code == 2
    assert "cannot share the name 'probability'" in unnamed.output
    _flights(model).assign(delayed=0).to_parquet(tmp_path / "in.parquet", index=False)
    labelled = predict("--model", str(tmp_path / "no model here"))
    assert labelled.exit_code == 2
    assert "named as a score would be: ['delayed']" in labelled.output
    absent = predict("--model", str(tmp_path / "no model here"), "--keep", "tailnum,gate")
    assert absent.exit_code == 2
    assert "no column(s) ['gate'] to keep" in absent.output
    (tmp_path / "in.parquet").write_text("not parquet")
    unreadable = predict("--model", str(tmp_path / "no model here"))
    assert unreadable.exit_code == 2
    assert "in.parquet:" in unreadable.output and "no model here" not in unreadable.output


def test_sluice_predict_names_a_damaged_file_and_a_missing_folder_without_a_traceback(
    model, tmp_path
):
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)
    whole = (tmp_path / "in.parquet").read_bytes()
    footer = len(whole) - 8 - int.from_bytes(whole[-8:-4], "little")
    damaged = whole[:footer] + b"\xff" * (len(whole) - 8 - footer) + whole[-8:]
    (tmp_path / "damaged.parquet").write_bytes(damaged)

    def predict(source: str, destination):
        return CliRunner().invoke(
            app,
            ["predict", str(tmp_path / source), str(destination), "--model", str(model.directory)],
        )

    for done in (
        predict("damaged.parquet", tmp_path / "out.parquet"),
        predict("in.parquet", tmp_path / "no folder" / "out.parquet"),
        predict("nowhere.parquet", tmp_path / "out.parquet"),
    ):
        assert done.exit_code == 2, done.output
        assert done.exception is None or isinstance(done.exception, SystemExit)
    said = " ".join(predict("damaged.parquet", tmp_path / "out.parquet").output.split())
    assert "damaged.parquet:" in said
    said = " ".join(predict("in.parquet", tmp_path / "no folder" / "o.parquet").output.split())
    assert "no folder (the destination's folder) does not exist" in said


def test_text_stored_as_categories_large_or_plain_text_scores_as_a_frame_and_keeps_its_type(
    model, tmp_path, monkeypatch
):
    """Text features reach the model as the dictionaries Parquet stores them in; what is
    written back is the file's own type. (A missing value's text is pinned in
    `test_arrow_inputs`: here "None" and "nan" would both be unseen.)"""
    frame = _flights(model).astype({"carrier": "category", "origin": "string"})
    frame.loc[5, "origin"] = None
    table = pa.Table.from_pandas(frame, preserve_index=False)
    dest = table.schema.get_field_index("dest")
    table = table.set_column(dest, "dest", table["dest"].cast(pa.large_string()))
    pq.write_table(table, tmp_path / "in.parquet")
    seen = []
    batch_arrays = serving.batch.batch_arrays
    monkeypatch.setattr(
        serving.batch,
        "batch_arrays",
        lambda layout, batch, *rest: (
            seen.append(batch.select(layout.categorical).schema.types)
            or batch_arrays(layout, batch, *rest)
        ),
    )

    predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)

    probability, unseen = model.predict_frame(frame)
    scored = pq.read_table(tmp_path / "out.parquet")
    source = pq.read_table(tmp_path / "in.parquet")
    np.testing.assert_array_equal(scored["probability"].to_numpy(), probability)
    assert unseen == {"carrier": 2, "origin": 1, "dest": 0}
    assert all(pa.types.is_dictionary(kind) for kinds in seen for kind in kinds)
    assert scored.select(source.column_names).equals(source)
    assert scored.schema.field("dest").type == pa.large_string()
    assert pd.read_parquet(tmp_path / "out.parquet")["carrier"].dtype == "category"


def test_a_feature_the_file_holds_twice_is_named(model, tmp_path):
    table = pa.Table.from_pandas(_flights(model), preserve_index=False)
    pq.write_table(table.append_column("temp", table["temp"]), tmp_path / "in.parquet")

    with pytest.raises(KeyError, match=r"in.parquet: feature column\(s\) \['temp'\] appear more"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH)
    assert not (tmp_path / "out.parquet").exists()


def test_a_model_error_in_a_later_batch_leaves_the_destination_as_it_was(
    model, tmp_path, monkeypatch
):
    """A slice's call failing mid-file (the fifth of 3 rows, in the second batch of 7):
    the error reaches the caller, the earlier output stays, and no partial file is left."""
    _flights(model).to_parquet(tmp_path / "in.parquet", index=False)
    (tmp_path / "out.parquet").write_text("an earlier output")
    calls, predict_arrays = [], model.predict_arrays

    def failing(categorical, numeric):
        calls.append(len(numeric))
        if len(calls) == 5:
            raise RuntimeError("onnxruntime: out of memory")
        return predict_arrays(categorical, numeric)

    monkeypatch.setattr(model, "predict_arrays", failing)

    with pytest.raises(RuntimeError, match="out of memory"):
        predict_file(model, tmp_path / "in.parquet", tmp_path / "out.parquet", BATCH, 3)

    assert (tmp_path / "out.parquet").read_text() == "an earlier output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.parquet"]
    assert len(calls) < 17  # stopped there: 40 rows are 17 calls (3, 3 and 1 a batch of 7)


def test_scores_and_rows_set_aside_are_cut_into_the_files_row_groups_across_batches():
    """Batches cross row groups where text is not read as dictionaries (which pyarrow ends a
    batch at a row group's end for): groups of 5, 3, 6 and 2 rows (the file's groups 0, 2, 3
    and 4), batches of 4 rows and 2; the scores are the rows' numbers."""
    schema = pa.schema([pa.field("p", pa.float32()), pa.field("d", pa.bool_())])
    parts = []
    groups = serving.batch._RowGroups([(0, 5), (2, 3), (3, 6), (4, 2)], schema, parts.append)

    def put(rows: range, refused: dict[int, str]) -> None:
        scored = np.array([row for row in rows if row not in refused], dtype=np.float32)
        groups.put(len(rows), refused, (pa.array(scored), pa.array(scored > 5)))

    put(range(0, 4), {})  # the first group clean so far: held
    assert parts == []
    put(range(4, 8), {4: "four", 5: "five"})  # each group's row at the batch's cut refused
    put(range(8, 12), {})  # ends the second; the third clean so far
    put(range(12, 14), {13: "thirteen"})  # the third's last row refused: its held rows go too
    put(range(14, 16), {})  # the fourth, clean: copied

    def seen(part) -> tuple:
        scores = part.scores.column("p").to_pylist()
        return part.at, part.first, part.stop, scores, part.refused, part.copied, part.last

    assert [seen(part) for part in parts] == [
        (0, 0, 5, [0, 1, 2, 3], {4: "four"}, False, True),
        (2, 5, 8, [6, 7], {5: "five"}, False, True),
        (3, 8, 14, [8, 9, 10, 11, 12], {13: "thirteen"}, False, True),
        (4, 14, 16, [14, 15], {}, True, True),
    ]


def test_a_row_group_turns_to_rows_at_its_first_refusal_and_goes_on_batch_by_batch():
    schema = pa.schema([pa.field("p", pa.float32()), pa.field("d", pa.bool_())])
    parts = []
    groups = serving.batch._RowGroups([(0, 6)], schema, parts.append)
    for start, refused in ((0, {}), (2, {3: "three"}), (4, {})):
        scored = np.array([r for r in range(start, start + 2) if r not in refused], np.float32)
        groups.put(2, refused, (pa.array(scored), pa.array(scored > 1)))

    assert [
        (part.first, part.stop, part.scores.column("p").to_pylist(), part.refused, part.last)
        for part in parts
    ] == [(0, 4, [0, 1, 2], {3: "three"}, False), (0, 6, [4, 5], {}, True)]
    assert not any(part.copied for part in parts)
