"""Holdout metrics, per-slice metrics and the baselines they are compared with."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    predicted = (scores >= threshold).astype(int)
    single_class = len(np.unique(labels)) < 2
    return {
        "roc_auc": float("nan") if single_class else float(roc_auc_score(labels, scores)),
        "pr_auc": float("nan") if single_class else float(average_precision_score(labels, scores)),
        "brier": float(brier_score_loss(labels, scores)),
        "accuracy": float(accuracy_score(labels, predicted)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "threshold": float(threshold),
        "rows": int(len(labels)),
        "positive_rate": float(np.mean(labels)),
    }


def confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> list[list[int]]:
    return confusion_matrix(labels, (scores >= threshold).astype(int), labels=[0, 1]).tolist()


def slice_metrics(
    frame: pd.DataFrame, labels: np.ndarray, scores: np.ndarray, columns: list[str], min_rows: int
) -> pd.DataFrame:
    """ROC-AUC and base rate per value of each slice column (slices under `min_rows` rows
    or with one class are skipped: their AUC is noise)."""
    rows = []
    for column in columns:
        for value, index in frame.groupby(column, observed=True).indices.items():
            y = labels[index]
            if len(index) < min_rows or len(np.unique(y)) < 2:
                continue
            rows.append(
                {
                    "slice": column,
                    "value": str(value),
                    "rows": len(index),
                    "positive_rate": float(y.mean()),
                    "roc_auc": float(roc_auc_score(y, scores[index])),
                }
            )
    return pd.DataFrame(rows, columns=["slice", "value", "rows", "positive_rate", "roc_auc"])


def largest_slice_gap(slices: pd.DataFrame) -> float:
    """The largest AUC gap between two values of the same slice column."""
    if slices.empty:
        return 0.0
    spread = slices.groupby("slice")["roc_auc"].agg(lambda s: s.max() - s.min())
    return float(spread.max())


def logistic_baseline(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    categorical: list[str],
    numeric: list[str],
    label: str,
    seed: int = 0,
) -> np.ndarray:
    """A logistic regression on the same features: one-hot categories, imputed and scaled
    numerics with missing indicators. Returns holdout scores."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # Columns that are entirely missing in training carry no signal (and no median).
    numeric = [c for c in numeric if train[c].notna().any()]
    features = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                numeric,
            ),
        ]
    )
    model = make_pipeline(features, LogisticRegression(max_iter=300, random_state=seed))
    x_train = train[[*categorical, *numeric]].astype({c: str for c in categorical})
    x_holdout = holdout[[*categorical, *numeric]].astype({c: str for c in categorical})
    model.fit(x_train, train[label].to_numpy())
    return model.predict_proba(x_holdout)[:, 1]
