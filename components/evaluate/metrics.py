"""Holdout metrics and per-slice metrics."""

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
