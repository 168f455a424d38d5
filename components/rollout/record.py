"""The decision record beyond the InferenceService's annotations: Prometheus metrics (served
while the rollout runs, and written as a text file), the decisions as JSON, and an HTML
report with the canary's traffic and analysis scores over time."""

from __future__ import annotations

import html
import json
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, write_to_textfile

from components.base.html_report import page, plt, png, table
from components.rollout.analysis import METRICS
from components.rollout.state import Decision, RolloutState

RESULTS = ("deployed", "promoted", "rolled-back", "unchanged")
_LABELS = ("inferenceservice", "namespace", "model_version")


class RolloutRecord:
    def __init__(self, name: str, namespace: str):
        self.name, self.namespace = name, namespace
        self.registry = CollectorRegistry()
        self.step = Gauge(
            "sluice_rollout_step",
            "The canary's share of traffic, percent, as of the last decision (100: promoted, "
            "0: rolled back).",
            _LABELS,
            registry=self.registry,
        )
        self.result = Gauge(
            "sluice_rollout_result",
            "1 for how the rollout ended (deployed, promoted, rolled-back, unchanged), else 0.",
            [*_LABELS, "result"],
            registry=self.registry,
        )
        self.score = Gauge(
            "sluice_rollout_analysis_score",
            "The share of metrics that passed the last analysis.",
            _LABELS,
            registry=self.registry,
        )
        self.failures = Gauge(
            "sluice_rollout_failed_checks",
            "Failed analyses so far; the rollout rolls back at its threshold.",
            _LABELS,
            registry=self.registry,
        )
        self.actions = Counter(
            "sluice_rollout_decisions",
            "Decisions taken, by action.",
            [*_LABELS, "action"],
            registry=self.registry,
        )
        self.decisions: list[dict] = []

    def __call__(self, decision: Decision, state: RolloutState) -> None:
        labels = (self.name, self.namespace, state.version)
        self.step.labels(*labels).set(decision.percent)
        self.failures.labels(*labels).set(decision.failures)
        if decision.analysis is not None:
            self.score.labels(*labels).set(decision.analysis["score"])
        self.actions.labels(*labels, decision.action).inc()
        self.decisions.append(decision.to_dict())

    def finish(self, version: str, result: str) -> None:
        for each in RESULTS:
            self.result.labels(self.name, self.namespace, version, each).set(each == result)
        if result in ("promoted", "deployed"):
            self.step.labels(self.name, self.namespace, version).set(100)
        elif result == "rolled-back":
            self.step.labels(self.name, self.namespace, version).set(0)

    def write(self, directory: Path, summary: dict) -> dict[str, Path]:
        """`rollout.prom`, `rollout.json` and `rollout.html` in `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "metrics": directory / "rollout.prom",
            "json": directory / "rollout.json",
            "report": directory / "rollout.html",
        }
        write_to_textfile(str(paths["metrics"]), self.registry)
        # the object keeps the newest decisions, this process saw its own: all of both
        seen = {d["at"]: d for d in [*(summary.get("decisions") or []), *self.decisions]}
        record = {**summary, "decisions": [seen[at] for at in sorted(seen)]}
        paths["json"].write_text(json.dumps(record, indent=2, default=str))
        paths["report"].write_text(report_html(record))
        return paths


def _timeline(decisions: list[dict]):
    start = decisions[0]["at"]
    fig, (traffic, scores) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
    times = [(d["at"] - start) for d in decisions]
    traffic.step(times, [d["percent"] for d in decisions], where="post", color="#4c72b0")
    traffic.set(ylabel="canary traffic %", ylim=(-5, 105), title="Canary traffic and analyses")
    colours = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#9a6700"}
    for t, d in zip(times, decisions, strict=True):
        if d.get("analysis"):
            outcome = d["analysis"]["outcome"]
            scores.scatter(t, d["analysis"]["score"], color=colours[outcome], label=outcome)
    handles = dict(zip(*reversed(scores.get_legend_handles_labels()), strict=True))
    if handles:
        scores.legend(handles.values(), handles.keys(), fontsize=8)
    scores.set(
        ylabel="analysis score", xlabel="seconds since the first decision", ylim=(-0.05, 1.05)
    )
    for ax in (traffic, scores):
        ax.grid(alpha=0.3)
    return png(fig)


def _check_cell(check: dict | None) -> str:
    if check is None:
        return ""
    p = "" if check.get("p_value") is None else f" (p={check['p_value']:.3g})"
    return f"{check['outcome']}{p}"


def report_html(record: dict) -> str:
    decisions = record.get("decisions") or []
    rows = []
    for d in decisions:
        analysis = d.get("analysis") or {}
        checks = {c["metric"]: c for c in analysis.get("checks", [])}
        rows.append(
            {
                "seconds": round(d["at"] - decisions[0]["at"], 1),
                "action": d["action"],
                "traffic %": d["percent"],
                "failed checks": d["failures"],
                "score": analysis.get("score", ""),
                **{metric: _check_cell(checks.get(metric)) for metric in METRICS},
                "message": d["message"],
            }
        )
    result = html.escape(str(record.get("result", "")))
    css = {"promoted": "pass", "deployed": "pass", "rolled-back": "fail"}.get(result, "")
    body = (
        f"<h1>Rollout of {html.escape(str(record.get('name')))} "
        f"v{html.escape(str(record.get('version')))}: "
        f'<span class="{css}">{result}</span></h1>'
        f"<p>{html.escape(str(record.get('reason', '')))}</p>"
    )
    if decisions:
        body += f'<img src="data:image/png;base64,{_timeline(decisions)}">'
    body += f"<h2>Decisions</h2>{table(rows)}"
    return page("sluice rollout", body)
