"""`drift.html`: the verdict first, then which features moved (p-values and PSI as bars),
then each feature's distribution, reference against current, most drifted first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from components.base.html_report import page, plt, png, table
from serving.drift.check import DriftResult, FeatureDrift
from serving.drift.inputs import MISSING_CATEGORY

REFERENCE_COLOUR, CURRENT_COLOUR, DRIFT_COLOUR = "#57606a", "#0969da", "#cf222e"
PSI_GUIDES = (0.1, 0.25)
"""The usual reading of PSI: below 0.1 stable, 0.1 to 0.25 a shift to watch, above a large one."""
TOP_CATEGORIES = 12
SMALLEST_P = 1e-300
"""p-values that underflow to 0 are drawn at this height."""


def render(result: DriftResult, reference: pd.DataFrame, current: pd.DataFrame) -> str:
    verdict = (
        '<p class="fail">drift detected</p>' if result.is_drift else '<p class="pass">no drift</p>'
    )
    drifted = [f.feature for f in result.features if f.drifted]
    summary = [
        {"": "rows", "value": f"reference {result.rows_reference}, current {result.rows_current}"},
        {"": "detector", "value": f"{result.detector}, {result.correction} correction"},
        {"": "p-value threshold", "value": f"{result.threshold:.3g} (alpha {result.p_val})"},
        {"": "drifted features", "value": ", ".join(drifted) or "none"},
        {"": "excluded", "value": ", ".join(result.excluded) or "none"},
    ]
    body = (
        f"<h1>Drift: current against reference</h1>{verdict}{table(summary)}"
        f'<div class="plots"><img src="data:image/png;base64,{png(_p_values(result))}">'
        f'<img src="data:image/png;base64,{png(_psi(result))}"></div>'
        f"<h2>Per feature</h2>{table([_row(f) for f in result.features])}"
        "<h2>Distributions</h2><p>Reference in grey, current in blue; a red title marks a "
        'drifted feature.</p><div class="plots">'
        + "".join(
            f'<img src="data:image/png;base64,{png(_distribution(f, reference, current))}">'
            for f in result.features
        )
        + "</div>"
    )
    return page("sluice drift", body)


def _row(f: FeatureDrift) -> dict:
    missing = (
        ""
        if f.missing_reference is None
        else f"{f.missing_reference:.1%} → {f.missing_current:.1%}"
    )
    return {
        "feature": f.feature,
        "test": "chi-squared" if f.kind == "categorical" else "KS",
        "p-value": f"{f.p_value:.3g}",
        "statistic": f.statistic,
        "PSI": f.psi,
        "missing": missing,
        "drifted": "yes" if f.drifted else "",
    }


def _bars(result: DriftResult, values: list[float], title: str, guides: dict[float, str]):
    names = [f.feature for f in result.features][::-1]
    colours = [DRIFT_COLOUR if f.drifted else REFERENCE_COLOUR for f in result.features][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(names) + 1.2))
    ax.barh(names, values[::-1], color=colours)
    for x, label in guides.items():
        ax.axvline(x, color="#9a6700", linestyle="--", linewidth=1)
        ax.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), fontsize=7)
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8)
    return fig


def _p_values(result: DriftResult):
    heights = [-np.log10(max(f.p_value, SMALLEST_P)) for f in result.features]
    guide = {-np.log10(result.threshold): " threshold"} if result.threshold > 0 else {}
    fig = _bars(result, heights, "-log10 p-value (longer: more surely drifted)", guide)
    fig.axes[0].set_xscale("symlog", linthresh=1)  # underflowed p-values would dwarf the rest
    return fig


def _psi(result: DriftResult):
    guides = {g: f" {g}" for g in PSI_GUIDES}
    return _bars(result, [f.psi for f in result.features], "PSI (size of the shift)", guides)


def _distribution(f: FeatureDrift, reference: pd.DataFrame, current: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(5, 2.8))
    ref, cur = reference[f.feature], current[f.feature]
    if f.kind == "categorical":
        shares = pd.DataFrame(
            {
                side: values.astype(object)
                .where(values.notna(), MISSING_CATEGORY)
                .astype(str)
                .value_counts(normalize=True)
                for side, values in (("reference", ref), ("current", cur))
            }
        ).fillna(0.0)
        shares = shares.loc[shares.sum(axis=1).nlargest(TOP_CATEGORIES).index]
        shares.plot.bar(ax=ax, color=[REFERENCE_COLOUR, CURRENT_COLOUR], width=0.8)
        ax.set_ylabel("share of rows")
        ax.tick_params(axis="x", labelsize=7)
    else:
        ref, cur = (pd.to_numeric(s, errors="coerce").dropna().to_numpy(float) for s in (ref, cur))
        pooled = np.concatenate([ref, cur])
        if pooled.size:
            low, high = np.quantile(pooled, [0.005, 0.995])
            bins = np.linspace(low, high, 31) if high > low else 10
            for values, colour, name in (
                (ref, REFERENCE_COLOUR, "reference"),
                (cur, CURRENT_COLOUR, "current"),
            ):
                if values.size:
                    ax.hist(
                        values,
                        bins=bins,
                        density=True,
                        histtype="step",
                        linewidth=1.6,
                        color=colour,
                        label=name,
                    )
            ax.legend(fontsize=7)
        ax.set_ylabel("density")
    title = f"{f.feature}: p={f.p_value:.2g}, PSI={f.psi:.2f}"
    ax.set_title(title, color=DRIFT_COLOUR if f.drifted else "#222", fontsize=10)
    return fig
