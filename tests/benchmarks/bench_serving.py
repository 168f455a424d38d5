"""Serving: the sluice predictor next to a textbook KServe predictor and a constant-answer
ceiling, REST v2 and gRPC, concurrency 1/8/32/64, each run SLUICE_BENCH_SECONDS (10) long,
all in one run (the goal concurrency in SLUICE_BENCH_ROUNDS interleaved rounds); then batch
inference against the pure model forward pass.

Each server runs 1 worker pinned to core 0; the load generator is pinned to core 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
from rich.progress import track

from serving.artifact import ModelArtifact
from serving.batch import predict_file
from serving.process import model_server
from tests.benchmarks.common import console, report

NAME = "sluice-flights"
CONCURRENCY = (1, 8, 32, 64)
SECONDS = float(os.environ.get("SLUICE_BENCH_SECONDS", "10"))
GOAL_CONCURRENCY = 32
ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "3"))


def _pin(core: int) -> tuple[str, ...]:
    return ("taskset", "-c", str(core)) if shutil.which("taskset") and os.cpu_count() > 1 else ()


def _request(model: ModelArtifact, row: pd.Series) -> InferRequest:
    inputs = []
    for name in model.layout.features:
        if name in model.layout.categorical:
            inputs.append(InferInput(name, [1], "BYTES", [str(row[name])]))
        else:
            value = float(row[name]) if pd.notna(row[name]) else float("nan")
            inputs.append(InferInput(name, [1], "FP32", [value]))
    # All three servers answer with the same single `probability` tensor: sluice also has a
    # `delayed` output, which it returns only when asked (OIP v2 requested outputs).
    return InferRequest(
        NAME, inputs, request_id="bench", request_outputs=[RequestedOutput("probability")]
    )


def _load(protocol: str, target: str, body: bytes, concurrency: int) -> dict:
    spec = {
        "protocol": protocol,
        "target": target,
        "body_hex": body.hex(),
        "concurrency": concurrency,
        "seconds": SECONDS,
    }
    done = subprocess.run(
        [*_pin(1), sys.executable, "-m", "tests.benchmarks.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)


SERVERS = {
    "a sluice": ("serving.server", ["--mode", "predictor"]),
    "a' sluice, batching off": ("serving.server", ["--mode", "predictor", "--no-batching"]),
    "b textbook": ("tests.benchmarks.reference_servers", ["--kind", "textbook"]),
    "c ceiling": ("tests.benchmarks.reference_servers", ["--kind", "ceiling"]),
}


def _median_run(runs: list[dict]) -> dict:
    """The run with the median throughput, how many runs it was chosen from, and their
    spread (max - min throughput, over the median): how far one run can be trusted."""
    ordered = sorted(runs, key=lambda r: r["throughput"])
    median = ordered[len(ordered) // 2]
    spread = (ordered[-1]["throughput"] - ordered[0]["throughput"]) / median["throughput"]
    return {**median, "runs": len(runs), "spread": spread}


def serving_table(model_dir: Path, row: pd.Series) -> list[dict]:
    """All servers stay up, idle but one; the goal concurrency runs in ROUNDS interleaved
    rounds (a, a', b, c, a, a', …) and each server reports its median run, so that a slow
    spell on a shared machine lands on all servers alike instead of on one of them."""
    model = ModelArtifact(model_dir)
    request = _request(model, row)
    bodies = {
        "rest": json.dumps(request.to_rest()[0]).encode(),
        "grpc": request.to_grpc().SerializeToString(),
    }
    runs: dict[tuple[str, str, int], list[dict]] = {}
    with ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                model_server(
                    *args,
                    "--model_uri",
                    str(model_dir),
                    "--model_name",
                    NAME,
                    module=module,
                    prefix=_pin(0),
                )
            )
            for name, (module, args) in SERVERS.items()
        }
        targets = {
            (name, protocol): running.grpc
            if protocol == "grpc"
            else f"{running.http}/v2/models/{NAME}/infer"
            for name, running in servers.items()
            for protocol in bodies
        }
        for (_, protocol), target in targets.items():
            _load(protocol, target, bodies[protocol], 4)  # warm-up, not recorded
        plan = [
            (name, protocol, concurrency)
            for concurrency in CONCURRENCY
            for _ in range(ROUNDS if concurrency == GOAL_CONCURRENCY else 1)
            for protocol in bodies
            for name in SERVERS
            if concurrency == GOAL_CONCURRENCY or not name.startswith("a'")
        ]
        for name, protocol, concurrency in track(plan, description="serving load", console=console):
            result = _load(protocol, targets[(name, protocol)], bodies[protocol], concurrency)
            runs.setdefault((name, protocol, concurrency), []).append(result)
        dead = [name for name, running in servers.items() if not running.alive]
        if dead:
            raise RuntimeError(f"died under load: {dead}")
    return [
        {"server": name, "protocol": protocol, "concurrency": concurrency, **_median_run(results)}
        for (name, protocol, concurrency), results in sorted(runs.items())
    ]


def goals(rows: list[dict]) -> list[dict]:
    at = {(r["server"], r["protocol"]): r for r in rows if r["concurrency"] == GOAL_CONCURRENCY}
    out = []
    for protocol in ("rest", "grpc"):
        a, b, c = (at[(s, protocol)] for s in ("a sluice", "b textbook", "c ceiling"))
        out += [
            {
                "goal": f"{protocol}: a/c throughput >= 0.8",
                "value": a["throughput"] / c["throughput"],
                "met": a["throughput"] >= 0.8 * c["throughput"],
            },
            {
                "goal": f"{protocol}: p99 a <= 1.5 x p99 c",
                "value": a["p99_ms"] / c["p99_ms"],
                "met": a["p99_ms"] <= 1.5 * c["p99_ms"],
            },
            {
                "goal": f"{protocol}: a/b throughput >= 1.2",
                "value": a["throughput"] / b["throughput"],
                "met": a["throughput"] >= 1.2 * b["throughput"],
            },
        ]
    grpc, rest = at[("a sluice", "grpc")], at[("a sluice", "rest")]
    out.append(
        {
            "goal": "a: gRPC throughput >= REST",
            "value": grpc["throughput"] / rest["throughput"],
            "met": grpc["throughput"] >= rest["throughput"],
        }
    )
    errors = sum(r["errors"] for r in rows)
    out.append({"goal": "zero errors", "value": float(errors), "met": errors == 0})
    return [{**g, "met": "yes" if g["met"] else "NO"} for g in out]


def batch_table(model_dir: Path, frame_path: Path) -> list[dict]:
    model = ModelArtifact(model_dir, threads=os.cpu_count() or 1)
    frame = pd.read_parquet(frame_path)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        source, destination = Path(work) / "in.parquet", Path(work) / "out.parquet"
        frame.to_parquet(source, index=False)
        best = min(
            (predict_file(model, source, destination) for _ in range(3)), key=lambda r: r.seconds
        )
        rows.append(
            {
                "measure": "sluice predict: Parquet in, Parquet out",
                "rows": best.rows,
                "seconds": best.seconds,
                "rows_per_second": best.rows_per_second,
            }
        )
        categorical, _ = model.layout.encode_categorical(frame)
        numeric = model.layout.numeric_matrix(frame)
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            model.predict_arrays(categorical, numeric)
            timings.append(time.perf_counter() - started)
        rows.append(
            {
                "measure": "model forward only (onnxruntime)",
                "rows": len(frame),
                "seconds": min(timings),
                "rows_per_second": len(frame) / min(timings),
            }
        )
    return rows


def main(model_dir: Path, frame_path: Path) -> None:
    frame = pd.read_parquet(frame_path)
    row = frame.dropna().iloc[0] if frame.dropna().shape[0] else frame.iloc[0]
    rows = serving_table(model_dir, row)
    goal_rows = goals(rows)
    report(
        "serving_load",
        f"serving under load ({SECONDS:.0f} s per run, 1 worker)",
        [
            {
                k: r[k]
                for k in (
                    "server",
                    "protocol",
                    "concurrency",
                    "throughput",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "errors",
                    "runs",
                    "spread",
                )
            }
            for r in rows
        ],
        {"goals": goal_rows},
    )
    report("serving_goals", f"serving goals at concurrency {GOAL_CONCURRENCY}", goal_rows)
    batch = batch_table(model_dir, frame_path)
    report(
        "batch_inference",
        "batch inference, full data",
        batch,
        {
            "goal_rows_per_second": 200_000,
            "io_over_forward": batch[0]["rows_per_second"] / batch[1]["rows_per_second"],
        },
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
