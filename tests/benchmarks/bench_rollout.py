"""Rollout timings from the four scenarios with short intervals (tests/rollout_harness.py):
how long a bad canary serves before its rollback, against `interval × threshold +
interval`, and how long a good one takes to be promoted, against `interval × steps`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.progress import track

from tests.benchmarks.common import report
from tests.delivery.chart import by_kind, render
from tests.rollout_harness import SCENARIOS, SHORT, Harness


def main(frame: Path, features: list[str], model_dir: Path) -> list[dict]:
    (template,) = by_kind(render(), "InferenceService")
    rows = []
    with (
        tempfile.TemporaryDirectory() as root,
        Harness(frame, features, model_dir, Path(root)) as harness,
    ):
        for scenario in track(SCENARIOS, description="rollout scenarios"):
            outcome = harness.rollout(scenario, template)
            bound = SHORT.promotion_bound_s if scenario == "good" else SHORT.rollback_bound_s
            analyses = [d for d in outcome.result.decisions if d.get("analysis")]
            rows.append(
                {
                    "scenario": scenario,
                    "result": outcome.result.result,
                    "seconds": round(outcome.seconds, 2),
                    "bound_s": bound,
                    "within_bound": outcome.seconds <= bound,
                    "analyses": len(analyses),
                    "requests": sum(outcome.answers.values()),
                }
            )
    report(
        "rollout",
        f"canary rollouts (steps {SHORT.steps}, interval {SHORT.interval_s:.0f} s, "
        f"threshold {SHORT.threshold})",
        rows,
        {
            "config": {
                "steps": SHORT.steps,
                "interval_s": SHORT.interval_s,
                "threshold": SHORT.threshold,
            }
        },
    )
    return rows
