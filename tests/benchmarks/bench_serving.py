"""Serving: the sluice predictor next to a textbook KServe predictor and a constant-answer
ceiling, REST v2 and gRPC, concurrency 1/8/32/64, each run SLUICE_BENCH_SECONDS (10) long,
all in one run (the goal concurrency in SLUICE_BENCH_ROUNDS (6) interleaved rounds, whose
ratios are paired within each round). Each run also records the server's CPU time per
request. Batch inference has its own benchmark, `bench_batch`.

Each server runs 1 worker pinned to core 0; the load generator is pinned to core 1.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import psutil
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
from rich.progress import track

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME
from serving.process import model_server
from tests.benchmarks.common import console, report

NAME = MODEL_NAME
CONCURRENCY = (1, 8, 32, 64)
SECONDS = float(os.environ.get("SLUICE_BENCH_SECONDS", "10"))
GOAL_CONCURRENCY = 32
ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "6"))  # even: each order as often
PROTOCOLS = ("rest", "grpc")


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


SERVERS = {  # running order within a round: sluice next to the ceiling it is held to
    "a sluice": ("serving.server", ["--mode", "predictor"]),
    "c ceiling": ("tests.benchmarks.reference_servers", ["--kind", "ceiling"]),
    "b textbook": ("tests.benchmarks.reference_servers", ["--kind", "textbook"]),
    "a' sluice, batching off": ("serving.server", ["--mode", "predictor", "--no-batching"]),
}


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _measured_load(pid: int, protocol: str, target: str, body: bytes, concurrency: int) -> dict:
    """One `_load` run, with the server's CPU time per answered request over it (user and
    system, from the OS: what a slow spell on a shared machine does not change)."""
    cpu_before = _cpu_seconds(pid)
    result = _load(protocol, target, body, concurrency)
    cpu = _cpu_seconds(pid) - cpu_before
    return {**result, "cpu_us_per_request": cpu / max(result["requests"], 1) * 1e6}


def _plan() -> list[tuple[int, str, str, int]]:
    """(round, protocol, server, concurrency) in running order. The goal concurrency runs in
    ROUNDS rounds, each with every server back to back, in reverse order every other round
    (a, c, b, a'; then a', b, c, a): drift over the run favours no server, and a round's
    runs are close enough in time to be compared with each other."""
    plan = []
    for concurrency in CONCURRENCY:
        goal = concurrency == GOAL_CONCURRENCY
        names = [name for name in SERVERS if goal or not name.startswith("a'")]
        for round_ in range(ROUNDS if goal else 1):
            order = names if round_ % 2 == 0 else names[::-1]
            plan += [
                (round_, protocol, name, concurrency) for protocol in PROTOCOLS for name in order
            ]
    return plan


def serving_runs(model_dir: Path, row: pd.Series) -> list[dict]:
    """Every run of `_plan`, with the server's CPU time per answered request (user and
    system, from the OS: what a slow spell on a shared machine does not change). All
    servers stay up, idle but one."""
    model = ModelArtifact(model_dir)
    request = _request(model, row)
    bodies = {
        "rest": json.dumps(request.to_rest()[0]).encode(),
        "grpc": request.to_grpc().SerializeToString(),
    }
    runs = []
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
            for protocol in PROTOCOLS
        }
        for (_, protocol), target in targets.items():
            _load(protocol, target, bodies[protocol], 4)  # warm-up, not recorded
        plan = _plan()
        for round_, protocol, name, concurrency in track(
            plan, description="serving load", console=console
        ):
            pid, target = servers[name].process.pid, targets[(name, protocol)]
            result = _measured_load(pid, protocol, target, bodies[protocol], concurrency)
            runs.append(
                {
                    "server": name,
                    "protocol": protocol,
                    "concurrency": concurrency,
                    "round": round_,
                    **result,
                }
            )
        dead = [name for name, running in servers.items() if not running.alive]
        if dead:
            raise RuntimeError(f"died under load: {dead}")
    return runs


def _median_run(runs: list[dict]) -> dict:
    """The run with the median throughput, how many runs it was chosen from, and their
    spread (max - min throughput, over the median): how far one run can be trusted."""
    ordered = sorted(runs, key=lambda r: r["throughput"])
    median = ordered[len(ordered) // 2]
    spread = (ordered[-1]["throughput"] - ordered[0]["throughput"]) / median["throughput"]
    return {**median, "runs": len(runs), "spread": spread}


def serving_table(runs: list[dict]) -> list[dict]:
    """One row per server, protocol and concurrency: its median run."""
    grouped: dict[tuple[str, str, int], list[dict]] = {}
    for run in runs:
        grouped.setdefault((run["server"], run["protocol"], run["concurrency"]), []).append(run)
    return [_median_run(group) for _, group in sorted(grouped.items())]


def _goal(label: str, ratios: list[float], bound: float, at_least: bool) -> dict:
    value = statistics.median(ratios)
    return {
        "goal": label,
        "value": value,
        "met": "yes" if (value >= bound if at_least else value <= bound) else "NO",
        "per_round": " ".join(f"{r:.2f}" for r in ratios),
    }


def goals(runs: list[dict]) -> list[dict]:
    """Each ratio is taken within a round, between runs minutes apart at most, and the
    goal is judged on the median over rounds. Whole-run medians of each server would set
    one server's fast spell against another's slow one."""
    at = {
        (r["round"], r["server"], r["protocol"]): r
        for r in runs
        if r["concurrency"] == GOAL_CONCURRENCY
    }
    rounds = sorted({round_ for round_, _, _ in at})

    def ratios(top: tuple[str, str], bottom: tuple[str, str], key: str) -> list[float]:
        return [at[(n, *top)][key] / at[(n, *bottom)][key] for n in rounds]

    out = []
    for protocol in PROTOCOLS:
        a, b, c = ((server, protocol) for server in ("a sluice", "b textbook", "c ceiling"))
        out += [
            _goal(f"{protocol}: a/c throughput >= 0.8", ratios(a, c, "throughput"), 0.8, True),
            _goal(f"{protocol}: p99 a <= 1.5 x p99 c", ratios(a, c, "p99_ms"), 1.5, False),
            _goal(f"{protocol}: a/b throughput >= 1.2", ratios(a, b, "throughput"), 1.2, True),
        ]
    grpc_over_rest = ratios(("a sluice", "grpc"), ("a sluice", "rest"), "throughput")
    out.append(_goal("a: gRPC throughput >= REST", grpc_over_rest, 1.0, True))
    errors = float(sum(r["errors"] for r in runs))
    out.append(
        {
            "goal": "zero errors",
            "value": errors,
            "met": "yes" if not errors else "NO",
            "per_round": "",
        }
    )
    return out


def main(model_dir: Path, frame_path: Path) -> None:
    frame = pd.read_parquet(frame_path)
    row = frame.dropna().iloc[0] if frame.dropna().shape[0] else frame.iloc[0]
    runs = serving_runs(model_dir, row)
    rows = serving_table(runs)
    goal_rows = goals(runs)
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
                    "cpu_us_per_request",
                    "runs",
                    "spread",
                )
            }
            for r in rows
        ],
        {"goals": goal_rows, "runs": runs},
    )
    report("serving_goals", f"serving goals at concurrency {GOAL_CONCURRENCY}", goal_rows)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
