"""Fit the preprocessing that the model and its metadata carry: vocabularies and scaling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from components.base.contract.layout import UNSEEN_VALUE, FeatureLayout


class TrainingDataError(ValueError):
    """The training frame cannot train a model; raised before any training starts."""


@dataclass(frozen=True)
class Preprocessing:
    layout: FeatureLayout
    means: list[float]
    stds: list[float]

    @classmethod
    def fit(cls, train: pd.DataFrame, categorical: list[str], numeric: list[str]):
        vocabularies = {
            name: sorted(set(train[name].dropna().astype(str)) - {UNSEEN_VALUE})
            for name in categorical
        }
        values = train[numeric].to_numpy(dtype=np.float64, na_value=np.nan)
        means = np.nanmean(values, axis=0)
        stds = np.nanstd(values, axis=0)
        return cls(
            layout=FeatureLayout(categorical, numeric, vocabularies),
            means=[float(m) for m in means],
            stds=[float(s) if s > 0 else 1.0 for s in stds],
        )

    def arrays(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The training loop's inputs: category codes and raw numerics."""
        return self.layout.encode_categorical(frame), self.layout.numeric_matrix(frame)

    def metadata(self) -> dict:
        """The layout's part of `ModelMetadata`."""
        return {
            "categorical": self.layout.categorical,
            "numeric": self.layout.numeric,
            "vocabularies": self.layout.vocabularies,
        }


def check_training_frame(frame: pd.DataFrame, features: list[str], label: str) -> None:
    """Refuse a frame that cannot train: missing columns, all-NaN features, one class."""
    missing = [c for c in [*features, label] if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"training frame: missing column(s) {missing}")
    if frame.empty:
        raise TrainingDataError("training frame: no rows")
    empty = [c for c in features if frame[c].isna().all()]
    if empty:
        raise TrainingDataError(f"training frame: feature(s) {empty} are all NaN")
    classes = sorted(frame[label].dropna().unique().tolist())
    if len(classes) < 2:
        raise TrainingDataError(
            f"training frame: label {label!r} has one class only ({classes}); need both"
        )
