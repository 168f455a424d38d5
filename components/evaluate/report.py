"""The evaluation report: ROC, PR, calibration and slice plots in one HTML page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from components.base.html_report import page, plt, png, table

THRESHOLDS_NOTE = (
    "Accuracy, precision, recall and F1 are at each model's own threshold, the one with the "
    "best F1 on the validation split. The references (logistic regression, gradient-boosted "
    "trees, stopped early on the validation loss) are fitted here on the network's train "
    "split and features; fit_seconds and iterations are their fits'."
)


def _curves(labels: np.ndarray, scored: dict[str, np.ndarray]) -> list[str]:
    roc, ax_roc = plt.subplots(figsize=(5.5, 4.5))
    pr, ax_pr = plt.subplots(figsize=(5.5, 4.5))
    cal, ax_cal = plt.subplots(figsize=(5.5, 4.5))
    for name, scores in scored.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.4f})")
        precision, recall, _ = precision_recall_curve(labels, scores)
        ax_pr.plot(recall, precision, label=name)
        observed, predicted = calibration_curve(labels, scores, n_bins=15, strategy="quantile")
        ax_cal.plot(predicted, observed, marker="o", ms=3, label=name)
    ax_roc.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax_roc.set(title="ROC (holdout)", xlabel="false positive rate", ylabel="true positive rate")
    ax_pr.axhline(labels.mean(), ls="--", c="grey", lw=0.8, label="base rate")
    ax_pr.set(title="Precision-recall (holdout)", xlabel="recall", ylabel="precision")
    ax_cal.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax_cal.set(title="Calibration", xlabel="predicted probability", ylabel="observed rate")
    for ax in (ax_roc, ax_pr, ax_cal):
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    return [png(roc), png(pr), png(cal)]


def _slices_plot(slices: pd.DataFrame, overall_auc: float) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 0.25 * max(len(slices), 8) + 1))
    labels = [f"{s}={v}" for s, v in zip(slices["slice"], slices["value"], strict=True)]
    colors = ["#4c72b0" if s == "origin" else "#55a868" for s in slices["slice"]]
    ax.barh(labels, slices["roc_auc"], color=colors)
    ax.axvline(overall_auc, c="#cf222e", ls="--", lw=1, label=f"overall {overall_auc:.3f}")
    low = max(0.0, float(slices["roc_auc"].min()) - 0.05) if len(slices) else 0.5
    ax.set(title="ROC-AUC by slice", xlim=(low, 1.0))
    ax.legend(fontsize=8)
    return png(fig)


def horizon_note(minutes: float) -> str:
    """What the model predicts, and how far ahead: every score below is at that horizon."""
    if not minutes:
        return "Prediction horizon: 0 (features as of the scheduled departure's quarter hour)."
    return (
        f"Prediction horizon: {minutes:g} minutes (features as of the quarter hour "
        f"{minutes:g} minutes before the scheduled departure)."
    )


def write_report(
    path: Path,
    labels: np.ndarray,
    scored: dict[str, np.ndarray],
    metrics: dict[str, dict],
    slices: pd.DataFrame,
    gate: list[dict],
    horizon_minutes: float = 0.0,
) -> None:
    passed = all(check["passed"] for check in gate)
    images = [*_curves(labels, scored), _slices_plot(slices, metrics["model"]["roc_auc"])]
    gate_rows = [
        {
            "check": c["name"],
            "result": "pass" if c["passed"] else "FAIL",
            "detail": c["detail"],
        }
        for c in gate
    ]
    columns = list(dict.fromkeys(key for values in metrics.values() for key in values))
    metric_rows = [
        {"model": name, **{key: values.get(key, "") for key in columns}}
        for name, values in metrics.items()
    ]
    verdict = '<span class="pass">PASSED</span>' if passed else '<span class="fail">FAILED</span>'
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(
        page(
            "sluice evaluation",
            f"<h1>Evaluation gate {verdict}</h1>"
            f"<p>{horizon_note(horizon_minutes)}</p>"
            f"<h2>Gate</h2>{table(gate_rows)}<h2>Holdout metrics</h2>{table(metric_rows)}"
            f"<p>{THRESHOLDS_NOTE}</p>"
            '<div class="plots">'
            + "".join(f'<img src="data:image/png;base64,{image}">' for image in images)
            + f"</div><h2>Slices</h2>{table(slices.to_dict('records'))}",
        )
    )
