"""Shared fixtures: small slices of the real NYC flights data and an isolated sluice home."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from components.ingest import packaged_data_dir


def write_slice(directory: Path, months: set[int], fmt: str = "parquet", days: int = 31) -> Path:
    """Flights and weather of `months` (first `days` days), all planes: a user source."""
    directory.mkdir(parents=True, exist_ok=True)
    data = packaged_data_dir()
    for table in ("flights", "weather"):
        name = "flights.csv.zip" if table == "flights" else "weather.csv"
        frame = pd.read_csv(data / name)
        frame = frame[frame["month"].isin(months) & (frame["day"] <= days)].reset_index(drop=True)
        if fmt == "parquet":
            frame.to_parquet(directory / f"{table}.parquet", index=False)
        else:
            frame.to_csv(directory / f"{table}.csv", index=False)
    pd.read_csv(data / "planes.csv").to_parquet(directory / "planes.parquet", index=False)
    return directory


@pytest.fixture(scope="session")
def week_source(tmp_path_factory) -> Path:
    return write_slice(tmp_path_factory.mktemp("week"), {1}, days=7)


def build_training_frame(
    root: Path,
    months: set[int],
    reference_time: str,
    days: int = 31,
    materialize: bool = True,
):
    """A real training frame (ingest → validate → featurize, in process) of `months` at
    `root / "frame.parquet"`, the Feast repo beside it; featurize's result."""
    from components.featurize import run as featurize
    from components.ingest import run as ingest
    from components.validate import run as validate

    source = write_slice(root / "source", months, days=days)
    snapshot = ingest(str(source), root / "snapshots")
    validate(
        snapshot_dir=Path(snapshot.snapshot_dir),
        validated_dir=root / "validated",
        quarantine_dir=root / "quarantine",
        report_json=root / "validation.json",
        report_html=root / "validation.html",
        reference_time=reference_time,
        max_staleness_days=31,
    )
    return featurize(
        root / "validated", root / "repo", root / "frame.parquet", materialize=materialize
    )


@pytest.fixture(scope="session")
def slice_training_frame(tmp_path_factory) -> Path:
    """A real training frame for January; the Feast repo beside it (`repo/`) has its SQLite
    online store materialized."""
    root = tmp_path_factory.mktemp("frame")
    result = build_training_frame(root, {1}, reference_time="2013-02-01")
    (root / "features.txt").write_text("\n".join(result.features))
    return root / "frame.parquet"


def frame_features(frame_path: Path) -> list[str]:
    return (frame_path.parent / "features.txt").read_text().split("\n")
