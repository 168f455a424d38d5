"""Drift service ingestion on one core, beside what one predictor core answers, in one run.

The goal (the drift issue): the drift service takes events at least twice as fast as one
predictor core answers calls, since each call makes two events, and KServe's logger sidecar
holds only 100 events before it slows the inference path down.

Both servers run pinned to core 0, the load generator on core 1, alternating in rounds:
- the sluice predictor, REST v2, 1-row calls, concurrency 32 (the serving benchmark's goal);
- the drift service, fed what the logger would send for exactly those calls (the request
  body, and the predictor's own answer as the response), at concurrency 5 (the logger
  sidecar's senders) and 32 (many pods' sidecars). Its windows fill and get checked
  during the load (1,000 rows every 500), as in production: the checks share its core.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

import httpx
import pandas as pd
from rich.progress import track

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME, UNREGISTERED, version_directory
from serving.process import model_server
from tests.benchmarks.bench_serving import _load, _measured_load, _pin, _request
from tests.benchmarks.common import console, report
from tests.drift_service import drift_service
from tests.logger_events import headers

ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "6")) // 2
PREDICTOR_CONCURRENCY = 32
SINK_CONCURRENCY = (5, 32)
GOAL = 2.0


def _runs(model_dir: Path, row: pd.Series) -> tuple[list[dict], dict]:
    request = _request(ModelArtifact(model_dir), row)
    call = json.dumps(request.to_rest()[0]).encode()
    runs, checks = [], {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as models:
        predictor = stack.enter_context(
            model_server("--mode", "predictor", "--model_uri", str(model_dir), prefix=_pin(0))
        )
        url = f"{predictor.http}/v2/models/{MODEL_NAME}/infer"
        answer = httpx.post(url, content=call, timeout=10)
        answer.raise_for_status()
        version = answer.json().get("model_version") or UNREGISTERED
        (Path(models) / version_directory(MODEL_NAME, version)).symlink_to(model_dir)
        drift = stack.enter_context(
            drift_service(
                "--models", models, "--window", "1000", "--every", "500", prefix=_pin(0)
            )
        )  # fmt: skip
        events = json.dumps(
            {
                "request": call.hex(),
                "response": answer.content.hex(),
                "request_headers": headers("request", ""),
                "response_headers": headers("response", ""),
            }
        ).encode()
        plan = [("predictor", PREDICTOR_CONCURRENCY)] + [("drift", c) for c in SINK_CONCURRENCY]
        _load("rest", url, call, 4)  # warm-up, not recorded
        _load("logger-events", f"{drift.url}/", events, 4)
        for round_ in track(range(ROUNDS), description="drift ingestion", console=console):
            for server, concurrency in plan if round_ % 2 == 0 else plan[::-1]:
                if server == "predictor":
                    result = _measured_load(predictor.process.pid, "rest", url, call, concurrency)
                    events_per_unit = 1
                else:
                    result = _measured_load(
                        drift.pid, "logger-events", f"{drift.url}/", events, concurrency
                    )
                    events_per_unit = 2  # a call logs two events
                runs.append(
                    {
                        "round": round_,
                        "server": server,
                        "concurrency": concurrency,
                        "per_second": events_per_unit * result["throughput"],
                        "p50_ms": result["p50_ms"],
                        "p99_ms": result["p99_ms"],
                        "errors": result["errors"],
                        "cpu_us_per_unit": result["cpu_us_per_request"] / events_per_unit,
                    }
                )
        for outcome in ("checked", "busy", "failed", "no_reference"):
            checks[outcome] = drift.metric(
                "sluice_drift_checks_total", model_version=version, outcome=outcome
            )
    return runs, checks


def main(model_dir: Path, frame_path: Path) -> dict:
    frame = pd.read_parquet(frame_path)
    row = frame.dropna().iloc[0] if frame.dropna().shape[0] else frame.iloc[0]
    runs, checks = _runs(model_dir, row)
    rows = []
    for server, concurrency in [("predictor", PREDICTOR_CONCURRENCY)] + [
        ("drift", c) for c in SINK_CONCURRENCY
    ]:
        mine = [r for r in runs if (r["server"], r["concurrency"]) == (server, concurrency)]
        median = sorted(mine, key=lambda r: r["per_second"])[len(mine) // 2]
        rows.append(
            {
                "server": f"{server} ({'calls' if server == 'predictor' else 'events'}/s)",
                "concurrency": concurrency,
                "per_second": median["per_second"],
                "p50_ms": median["p50_ms"],
                "p99_ms": median["p99_ms"],
                "errors": sum(r["errors"] for r in mine),
                "cpu_us_per_unit": median["cpu_us_per_unit"],
            }
        )
    ratios = {
        c: [
            next(
                r["per_second"]
                for r in runs
                if (r["round"], r["server"], r["concurrency"]) == (n, "drift", c)
            )
            / next(r["per_second"] for r in runs if (r["round"], r["server"]) == (n, "predictor"))
            for n in range(ROUNDS)
        ]
        for c in SINK_CONCURRENCY
    }
    goals = [
        {
            "goal": f"drift events/s at c={c} >= {GOAL:g} x predictor calls/s",
            "value": statistics.median(ratios[c]),
            "met": "yes" if statistics.median(ratios[c]) >= GOAL else "NO",
            "per_round": " ".join(f"{r:.2f}" for r in ratios[c]),
        }
        for c in SINK_CONCURRENCY
    ]
    report(
        "drift_ingest",
        "drift service ingestion on one core, beside one predictor core (medians of rounds)",
        rows,
        {"goals": goals, "checks_during_load": checks, "runs": runs},
    )
    report("drift_ingest_goals", "drift ingestion goal (ratios within each round)", goals)
    return {"rows": rows, "goals": goals, "checks": checks}
