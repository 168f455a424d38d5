"""Evaluate: holdout metrics against baselines and the champion, a report, and the gate."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from components.base.contract.artifact import ModelArtifact
from components.base.contract.metadata import ModelMetadata
from components.base.decision import best_f1_threshold
from components.base.splits import TimeSplit
from components.evaluate.gate import GateConfig, evaluate_gate
from components.evaluate.metrics import (
    classification_metrics,
    confusion,
    largest_slice_gap,
    slice_metrics,
)
from components.evaluate.references import REFERENCES, Splits
from components.evaluate.report import write_report
from components.flights.features import ENTITY_TIMESTAMP
from components.flights.schema import SLICE_COLUMNS


@dataclass
class EvaluateResult:
    passed: bool
    holdout_auc: float
    metrics: dict
    baselines: dict
    champion: dict | None
    slices: list[dict]
    slice_gap: float
    gate: list[dict]
    roc_curve: dict
    confusion_matrix: list[list[int]]
    horizon_minutes: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _roc_points(labels: np.ndarray, scores: np.ndarray, points: int = 100) -> dict:
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(labels, scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, points).astype(int))
    return {
        "fpr": fpr[keep].tolist(),
        "tpr": tpr[keep].tolist(),
        "thresholds": np.clip(thresholds[keep], 0.0, 1.0).tolist(),
    }


def references(splits: Splits) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Each reference fitted on the splits: its holdout scores, and its holdout metrics at
    its own threshold, the best F1 on validation, chosen as the network's was. The fits run
    side by side: each is mostly single-threaded native code that releases the GIL."""
    valid_labels = splits.valid[splits.label].to_numpy()
    labels = splits.holdout[splits.label].to_numpy()
    with ThreadPoolExecutor(len(REFERENCES)) as pool:
        futures = {name: pool.submit(fit, splits) for name, fit in REFERENCES.items()}
        fitted = {name: future.result() for name, future in futures.items()}
    scored, metrics = {}, {}
    for name, reference in fitted.items():
        threshold = best_f1_threshold(valid_labels, reference.valid)
        scored[name] = reference.holdout
        metrics[name] = classification_metrics(labels, reference.holdout, threshold) | {
            "fit_seconds": reference.fit_seconds,
            "iterations": reference.iterations,
        }
    return scored, metrics


def incomparable_champion(champion: ModelArtifact, columns) -> str | None:
    """Why the champion cannot be scored on this frame, if it cannot: it reads features the
    frame lacks (the feature set changed since it was trained)."""
    missing = champion.layout.missing(columns)
    if missing:
        return f"it reads feature(s) {sorted(missing)} that this frame lacks"
    return None


def run(
    training_frame: Path,
    model_dir: Path,
    report_html: Path,
    gate_config: GateConfig,
    champion_dir: Path | None = None,
    champion_version: str | None = None,
    min_slice_rows: int = 1000,
) -> EvaluateResult:
    started = time.perf_counter()
    model = ModelArtifact(model_dir)
    frame = pd.read_parquet(training_frame)
    split = TimeSplit(**model.metadata.time_split)
    parts = split.split(frame, ENTITY_TIMESTAMP)
    holdout = parts["holdout"]
    if holdout.empty:
        raise ValueError(f"evaluate: the holdout split is empty ({split})")
    label = model.metadata.label
    labels = holdout[label].to_numpy()

    scores, _ = model.predict_frame(holdout)  # through the encoder the server uses
    threshold = model.threshold
    layout = model.layout
    reference_scores, reference_metrics = references(
        Splits(parts["train"], parts["valid"], holdout, layout.categorical, layout.numeric, label)
    )
    scored = {"model": scores, **reference_scores}
    metrics = {"model": classification_metrics(labels, scores, threshold), **reference_metrics}
    valid_labels = parts["valid"][label].to_numpy()
    base_rate = float(parts["train"][label].mean())
    own = best_f1_threshold(valid_labels, np.full(len(valid_labels), base_rate))
    metrics["base_rate"] = classification_metrics(labels, np.full(len(labels), base_rate), own)
    metrics["base_rate"]["roc_auc"] = 0.5  # a constant score ranks nothing

    champion, incomparable = None, None
    if champion_dir is not None:
        champion_model = ModelArtifact(champion_dir)
        incomparable = incomparable_champion(champion_model, frame.columns)
        if incomparable:
            champion = {"version": champion_version, "incomparable": incomparable}
        elif champion_model.metadata.horizon_minutes != model.metadata.horizon_minutes:
            champion = {
                "version": champion_version,
                "horizon_minutes": champion_model.metadata.horizon_minutes,
            }
        else:
            champion_scores, _ = champion_model.predict_frame(holdout)
            scored["champion"] = champion_scores
            metrics["champion"] = classification_metrics(
                labels, champion_scores, champion_model.threshold
            )
            champion = {"version": champion_version, **metrics["champion"]}

    slices = slice_metrics(holdout, labels, scores, SLICE_COLUMNS, min_slice_rows)
    gap = largest_slice_gap(slices)
    gate = [
        c.to_dict()
        for c in evaluate_gate(
            gate_config,
            auc=metrics["model"]["roc_auc"],
            logistic_auc=metrics["logistic"]["roc_auc"],
            slice_gap=gap,
            champion_auc=None if champion is None else champion.get("roc_auc"),
            champion_incomparable=incomparable,
            champion_horizon=None if champion is None else champion.get("horizon_minutes"),
            horizon=model.metadata.horizon_minutes,
        )
    ]
    horizon = model.metadata.horizon_minutes
    write_report(report_html, labels, scored, metrics, slices, gate, horizon)
    return EvaluateResult(
        passed=all(c["passed"] for c in gate),
        holdout_auc=metrics["model"]["roc_auc"],
        metrics=metrics["model"],
        baselines={name: metrics[name] for name in ("base_rate", *REFERENCES)},
        champion=champion,
        slices=slices.to_dict("records"),
        slice_gap=gap,
        gate=gate,
        roc_curve=_roc_points(labels, scores),
        confusion_matrix=confusion(labels, scores, threshold),
        horizon_minutes=horizon,
        seconds=round(time.perf_counter() - started, 3),
    )


def record(
    result: EvaluateResult,
    model_dir: Path,
    reports: dict[str, Path],
    mlflow_client,
    artifact_root: str | None = None,
) -> str:
    """Attach the evaluation to the model's training run in MLflow (its id is in the
    model's metadata, else the run is found or opened by the pipeline run); returns it."""
    from components.base.tracking import log_evaluation, pipeline_run

    extra = ModelMetadata.read(model_dir).extra
    run_id = extra.get("mlflow_run_id") or pipeline_run(
        mlflow_client, str(extra.get("pipeline_run_id", "local")), {}, artifact_root
    )
    log_evaluation(mlflow_client, run_id, result.to_dict(), reports)
    return run_id


def write_json(result: EvaluateResult, path: Path) -> None:
    Path(path).write_text(json.dumps(result.to_dict(), indent=2))
