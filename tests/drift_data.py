"""Real model inputs for the drift tests: a training frame over January–August and
October–December, built the pipeline's way (ingest, validate, featurize), from the first
few days of each month so that it builds in seconds; and a model directory whose
metadata.json carries the layout and a reference sample, as training writes it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from components.base.contract.metadata import ModelMetadata
from components.flights.request import CATEGORICAL_FEATURES
from components.flights.schema import LABEL
from tests.conftest import build_training_frame

TRAINING_MONTHS = frozenset(range(1, 9))
HOLDOUT_MONTHS = frozenset({10, 11, 12})
DAYS_PER_MONTH = 7
"""Seven days a month: every weekday in each month, and ~70k flights in all."""


def season_frame(root: Path) -> tuple[pd.DataFrame, list[str]]:
    """The training frame of both seasons, and the model's features in order."""
    result = build_training_frame(
        root,
        TRAINING_MONTHS | HOLDOUT_MONTHS,
        reference_time="2014-01-01",
        days=DAYS_PER_MONTH,
        materialize=False,
    )
    return pd.read_parquet(root / "frame.parquet"), result.features


def write_model(directory: Path, frame: pd.DataFrame, features: list[str], rows: int) -> Path:
    """The model contract's metadata over `frame` (no graph: drift reads only the layout and
    the reference sample), `rows` of them sampled as training does."""
    directory.mkdir(parents=True, exist_ok=True)
    categorical = [f for f in features if f in CATEGORICAL_FEATURES]
    sample = frame.sample(min(rows, len(frame)), random_state=0)
    ModelMetadata(
        features=features,
        categorical=categorical,
        numeric=[f for f in features if f not in categorical],
        vocabularies={c: sorted(frame[c].dropna().unique().tolist()) for c in categorical},
        threshold=0.5,
        label=LABEL,
        time_split={},
        reference_sample={
            c: sample[c].astype(object).where(sample[c].notna(), None).tolist() for c in features
        },
    ).write(directory)
    return directory
