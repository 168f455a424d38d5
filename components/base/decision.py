"""How a score becomes a decision: the threshold every model's threshold metrics use."""

from __future__ import annotations

import numpy as np


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold with the best F1 on `labels`: chosen on the validation split,
    for the network at training and for each reference at evaluation, so that every
    model's accuracy, precision, recall and F1 come from a threshold of its own."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])
