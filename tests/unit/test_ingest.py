import shutil

import pandas as pd
import pytest

from components.flights.schema import LABEL
from components.ingest import SourceError, content_version, resolve_source, run


def test_rerun_on_same_input_reuses_the_snapshot_and_its_id(week_source, tmp_path):
    first = run(str(week_source), tmp_path / "snapshots")
    mtime = (tmp_path / "snapshots" / first.version / "flights.parquet").stat().st_mtime_ns
    second = run(str(week_source), tmp_path / "snapshots", tmp_path / "artifact")
    assert first.version == second.version
    assert not first.reused and second.reused
    assert (tmp_path / "snapshots" / first.version / "flights.parquet").stat().st_mtime_ns == mtime
    assert (tmp_path / "artifact" / "flights.parquet").is_file()


def test_version_changes_with_content(week_source, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(week_source, copy)
    assert content_version(resolve_source(str(copy))) == content_version(
        resolve_source(str(week_source))
    )
    flights = pd.read_parquet(copy / "flights.parquet")
    flights.loc[0, "dep_delay"] += 1
    flights.to_parquet(copy / "flights.parquet", index=False)
    assert content_version(resolve_source(str(copy))) != content_version(
        resolve_source(str(week_source))
    )


def test_label_and_event_time(week_source, tmp_path):
    result = run(str(week_source), tmp_path / "snapshots")
    flights = pd.read_parquet(f"{result.snapshot_dir}/flights.parquet")
    delayed = (flights["dep_delay"] >= 15) | flights["dep_time"].isna()
    assert (flights[LABEL] == delayed.astype(int)).all()
    assert str(flights["time_hour"].dt.tz) == "America/New_York"
    first = flights.iloc[0]
    assert first["time_hour"].hour == first["hour"]  # the scheduled local hour
    assert 0.1 < result.positive_rate < 0.5


def test_default_source_is_the_full_packaged_data():
    files = resolve_source("")
    assert files["flights"].name == "flights.csv.zip"
    assert set(files) == {"flights", "weather", "planes", "airports", "airlines"}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing", "does not exist"),
        (lambda d: (d / "file.txt").write_text("x") and d / "file.txt", "is not a directory"),
        (lambda d: d, "has no flights table"),
    ],
)
def test_bad_source_paths_give_a_clear_error(tmp_path, setup, message):
    with pytest.raises(SourceError, match=message):
        resolve_source(str(setup(tmp_path)))


def test_unreadable_table_names_the_file(week_source, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(week_source, source)
    (source / "planes.parquet").write_bytes(b"not parquet")
    with pytest.raises(SourceError, match="cannot read .*planes.parquet"):
        run(str(source), tmp_path / "snapshots")
