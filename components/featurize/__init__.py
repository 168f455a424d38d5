"""Featurize: build Feast sources, apply the repo, materialize online, and produce the
point-in-time-correct training frame."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from components.base.storage import Location
from components.flights import features as F
from components.flights.feature_repo import definitions
from components.flights.feature_repo.store import FeastStores
from components.flights.schema import LABEL, REQUIRED_TABLES

REPO_TEMPLATE = Path(definitions.__file__).resolve().parent


@dataclass
class FeaturizeResult:
    rows: int
    features: list[str]
    feature_service: str
    offline_store: str
    online_store: str
    repo_dir: str
    positive_rate: float
    horizon_minutes: float = 0.0
    seconds: float = 0.0
    historical_seconds: float = 0.0
    materialize_seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def write_repo(
    repo_dir: Path, tables: dict[str, pd.DataFrame], stores: FeastStores, data_version: str = ""
) -> Location:
    """A working copy of the feature repo, ready for `feast apply`, and the views' source
    data where the stores keep it (written before anything registers a view over it). In a
    bucket each data version has its own prefix, so that runs never read each other's."""
    repo_dir = Path(repo_dir)
    (repo_dir / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_TEMPLATE / "definitions.py", repo_dir / "definitions.py")
    (repo_dir / "feature_store.yaml").write_text(stores.yaml())
    data = stores.data_location(repo_dir)
    if data.remote and data_version:
        data = data.child(data_version)
    staging = repo_dir / "data"
    for view, frame in F.feature_sources(tables).items():
        frame.to_parquet(staging / definitions.SOURCE_FILES[view], index=False)
    if data.remote:
        data.upload(staging, list(definitions.SOURCE_FILES.values()))
    return data


def historical_features(store, objects: dict, entities: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time join, one Feast query per join-key group over the unique
    (key, timestamp) pairs: many flights share an origin-hour, so this is ~20x fewer rows
    than the flights, and the result is merged back onto every flight."""
    frame = entities
    for keys, refs in definitions.refs_by_join_keys(
        objects[definitions.FEATURE_SERVICE], objects
    ).items():
        columns = [*keys, F.ENTITY_TIMESTAMP]
        unique = entities[columns].dropna().drop_duplicates().reset_index(drop=True)
        joined = store.get_historical_features(entity_df=unique, features=refs).to_df()
        joined[F.ENTITY_TIMESTAMP] = pd.to_datetime(joined[F.ENTITY_TIMESTAMP], utc=True)
        names = [ref.split(":", 1)[1] for ref in refs]
        frame = frame.merge(joined[[*columns, *names]], on=columns, how="left")
    return frame


def run(
    validated_dir: Path,
    repo_dir: Path,
    training_frame_path: Path,
    stores: FeastStores | None = None,
    materialize: bool = True,
    data_version: str = "",
    horizon: timedelta = timedelta(0),
) -> FeaturizeResult:
    """`repo_dir` holds the repo's working copy and the local stores' files; `stores`
    says where the registry, the online store and the views' data live (default: all in
    `repo_dir`)."""
    started = time.perf_counter()
    stores = stores or FeastStores()
    validated_dir, repo_dir = Path(validated_dir), Path(repo_dir)
    tables = {t: pd.read_parquet(validated_dir / f"{t}.parquet") for t in REQUIRED_TABLES}
    data = write_repo(repo_dir, tables, stores, data_version)
    objects = definitions.build(data.uri, data.s3_endpoint)
    store = stores.open(repo_dir, offline=True)
    store.apply(list(objects.values()))

    entities = F.entity_frame(tables["flights"], horizon)
    t0 = time.perf_counter()
    frame = historical_features(store, objects, entities)
    frame = F.with_elapsed(frame, F.epoch_seconds(frame[F.ENTITY_TIMESTAMP]))
    historical_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    if materialize:
        start = entities[F.ENTITY_TIMESTAMP].min() - pd.Timedelta(days=2)
        end = entities[F.ENTITY_TIMESTAMP].max() + pd.Timedelta(days=3)
        stores.materialize(store, start.to_pydatetime(), end.to_pydatetime())
    materialize_seconds = time.perf_counter() - t0

    frame = frame.sort_values(F.FRAME_ORDER).reset_index(drop=True)
    Path(training_frame_path).parent.mkdir(parents=True, exist_ok=True)
    F.write_frame(frame, training_frame_path, horizon)
    return FeaturizeResult(
        rows=len(frame),
        features=F.model_features(
            definitions.service_features(objects[definitions.FEATURE_SERVICE], objects)
        ),
        feature_service=definitions.FEATURE_SERVICE,
        offline_store=stores.offline_store,
        online_store=stores.online_store,
        repo_dir=str(repo_dir),
        positive_rate=float(frame[LABEL].mean()),
        horizon_minutes=F.horizon_minutes(horizon),
        seconds=round(time.perf_counter() - started, 3),
        historical_seconds=round(historical_seconds, 3),
        materialize_seconds=round(materialize_seconds, 3),
    )
