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
    edges: list[list[float]]
    """Each numeric's bin edges for `PiecewiseLinear`: distinct quantiles of the train split."""

    @classmethod
    def fit(cls, train: pd.DataFrame, categorical: list[str], numeric: list[str], bins: int):
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
            edges=[quantile_edges(column, bins) for column in values.T],
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


def quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """Up to `bins` bins of about equal counts: the distinct quantiles of the present
    values. A feature with few distinct values gets fewer bins, a constant one none."""
    present = values[~np.isnan(values)]
    if bins < 1 or present.size == 0:
        return []
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)))
    return [float(e) for e in edges] if len(edges) > 1 else []


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
