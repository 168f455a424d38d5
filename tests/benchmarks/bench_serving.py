"""Serving: the sluice predictor next to its peers on the same registered model (a KServe
custom predictor as a careful KServe user writes it; MLServer with `mlserver-mlflow`, tuned
and at its defaults) and a constant-answer KServe ceiling, REST v2 and gRPC, concurrency
1/8/32/64, each run SLUICE_BENCH_SECONDS (10) long, all in one run (the goal concurrency in
SLUICE_BENCH_ROUNDS (6) interleaved rounds, whose ratios are paired within each round). Each
run also records the server's CPU time per request; batch inference has its own benchmark,
`bench_batch`. Every server gets the same raw-feature request, and their answers to a few
rows are checked to be the same before any load.

Each server runs 1 worker pinned to core 0 (MLServer's default worker process too); the load
generator is pinned to core 1.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, suppress
from pathlib import Path
from typing import NamedTuple

import httpx
import pandas as pd
import psutil
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
from rich.progress import track

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME, OUTPUT_NAME
from serving.process import Server, model_server
from tests.benchmarks.common import console, report
from tests.benchmarks.mlserver_peer import mlserver

NAME = MODEL_NAME
CONCURRENCY = (1, 8, 32, 64)
SECONDS = float(os.environ.get("SLUICE_BENCH_SECONDS", "10"))
GOAL_CONCURRENCY = 32
ROUNDS = int(os.environ.get("SLUICE_BENCH_ROUNDS", "6"))  # even: each order as often
PROTOCOLS = ("rest", "grpc")
REFERENCES = "tests.benchmarks.reference_servers"
ANSWER_TOLERANCE = 1e-6


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
    # The KServe servers answer with the same single `probability` tensor: sluice also has a
    # `delayed` output, which it returns only when asked (OIP v2 requested outputs). MLServer's
    # MLflow runtime answers every output of the pyfunc, `unseen` too, asked or not.
    return InferRequest(
        NAME, inputs, request_id="bench", request_outputs=[RequestedOutput("probability")]
    )


def _load(
    protocol: str, target: str, body: bytes, concurrency: int, seconds: float = SECONDS
) -> dict:
    spec = {
        "protocol": protocol,
        "target": target,
        "body_hex": body.hex(),
        "concurrency": concurrency,
        "seconds": seconds,
    }
    done = subprocess.run(
        [*_pin(1), sys.executable, "-m", "tests.benchmarks.loadgen"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)


class Contender(NamedTuple):
    start: Callable[[Path, Path], AbstractContextManager[Server]]
    """(model directory, a scratch folder) -> the server running, pinned to core 0."""
    logs: str
    """What it logs per request: the same choice for every server (none but errors), except
    MLServer at its defaults, whose `debug: true` is part of what they are."""


def _kserve(module: str, *args: str) -> Callable[[Path, Path], AbstractContextManager[Server]]:
    def start(model_dir: Path, _: Path) -> AbstractContextManager[Server]:
        return model_server(
            *args,
            "--model_uri",
            str(model_dir),
            "--model_name",
            NAME,
            module=module,
            prefix=_pin(0),
        )

    return start


def _mlserver(tuned: bool) -> Callable[[Path, Path], AbstractContextManager[Server]]:
    def start(model_dir: Path, scratch: Path) -> AbstractContextManager[Server]:
        folder = scratch / ("mlserver-tuned" if tuned else "mlserver-defaults")
        return mlserver(model_dir, NAME, tuned, folder, prefix=_pin(0))

    return start


DEFAULT_LOGS, AS_SLUICE = "errors only (sluice's default)", "errors only (as sluice)"
SERVERS = {  # running order within a round: sluice next to the ceiling it is held to
    "a sluice": Contender(_kserve("serving.server", "--mode", "predictor"), DEFAULT_LOGS),
    "c ceiling": Contender(_kserve(REFERENCES, "--kind", "ceiling"), AS_SLUICE),
    "b KServe predictor": Contender(_kserve(REFERENCES, "--kind", "kserve"), AS_SLUICE),
    "d MLServer": Contender(_mlserver(tuned=True), "none (debug: false)"),
    "d' MLServer, defaults": Contender(
        _mlserver(tuned=False), "an access line per call (debug: true)"
    ),
    "a' sluice, batching off": Contender(
        _kserve("serving.server", "--mode", "predictor", "--no-batching"), DEFAULT_LOGS
    ),
}
"""A name with a prime is a variant of the server before it: measured at the goal
concurrency only."""


def _cpu_seconds(pid: int) -> float:
    """User and system time of the process and its children (MLServer's worker)."""
    process = psutil.Process(pid)
    total = 0.0
    for member in (process, *process.children(recursive=True)):
        with suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


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
    (a, c, b, d, d', a'; then back): drift over the run favours no server, and a round's
    runs are close enough in time to be compared with each other."""
    plan = []
    for concurrency in CONCURRENCY:
        goal = concurrency == GOAL_CONCURRENCY
        names = [name for name in SERVERS if goal or "'" not in name]
        for round_ in range(ROUNDS if goal else 1):
            order = names if round_ % 2 == 0 else names[::-1]
            plan += [
                (round_, protocol, name, concurrency) for protocol in PROTOCOLS for name in order
            ]
    return plan


def probabilities(answer: dict) -> list[float]:
    """The `probability` output of a v2 REST answer, flat (MLServer answers [rows, 1] and
    adds the `unseen` output; the KServe servers answer [rows])."""
    (output,) = (o for o in answer["outputs"] if o["name"] == OUTPUT_NAME)
    return [float(v) for v in output["data"]]


def answer_differences(answers: dict[str, list[float]], reference: str) -> dict[str, float]:
    """Per server, the largest difference of its answers from `reference`'s."""
    expected = answers[reference]
    if any(len(got) != len(expected) for got in answers.values()):
        raise ValueError(f"servers answered different numbers of rows: {answers}")
    return {
        name: max((abs(a - b) for a, b in zip(got, expected, strict=True)), default=0.0)
        for name, got in answers.items()
    }


def same_answers(servers: dict[str, Server], bodies: list[bytes]) -> dict:
    """Every server but the ceiling sent the same one-row v2 REST bodies: their
    probabilities, and each one's largest difference from sluice's. Unequal answers stop the
    benchmark, since the servers would not be doing the same work."""
    headers = {"content-type": "application/json"}
    answers = {
        name: [
            value
            for body in bodies
            for value in probabilities(
                httpx.post(
                    f"{running.http}/v2/models/{NAME}/infer",
                    content=body,
                    headers=headers,
                    timeout=10,
                )
                .raise_for_status()
                .json()
            )
        ]
        for name, running in servers.items()
        if name != "c ceiling"
    }
    differences = answer_differences(answers, "a sluice")
    if max(differences.values()) > ANSWER_TOLERANCE:
        raise RuntimeError(f"the servers answer differently: {answers}")
    return {"rows": len(bodies), "max_difference": differences, "answers": answers}


def serving_runs(model_dir: Path, rows: pd.DataFrame) -> tuple[list[dict], dict]:
    """Every run of `_plan` with the first row as its request, with the server's CPU time
    per answered request (user and system, from the OS: what a slow spell on a shared
    machine does not change); and, before them, `same_answers` on every row. All servers
    stay up, idle but one."""
    model = ModelArtifact(model_dir)
    requests = [_request(model, row) for _, row in rows.iterrows()]
    rest = [json.dumps(request.to_rest()[0]).encode() for request in requests]
    # to_grpc turns the request's text to bytes in place: after every to_rest
    bodies = {"rest": rest[0], "grpc": requests[0].to_grpc().SerializeToString()}
    runs = []
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        servers = {}
        for name, contender in track(SERVERS.items(), description="starting", console=console):
            servers[name] = stack.enter_context(contender.start(model_dir, scratch))
        answers = same_answers(servers, rest)
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
    return runs, answers


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


def _goal_runs(runs: list[dict]) -> tuple[dict, list[int]]:
    """The goal concurrency's runs by (round, server, protocol), and the rounds."""
    at = {
        (r["round"], r["server"], r["protocol"]): r
        for r in runs
        if r["concurrency"] == GOAL_CONCURRENCY
    }
    return at, sorted({round_ for round_, _, _ in at})


def _paired(at: dict, rounds: list[int], top: tuple, bottom: tuple, key: str) -> list[float]:
    """top's `key` over bottom's, each (server, protocol), per round."""
    return [at[(n, *top)][key] / at[(n, *bottom)][key] for n in rounds]


def goals(runs: list[dict]) -> list[dict]:
    """Each ratio is taken within a round, between runs minutes apart at most, and the
    goal is judged on the median over rounds. Whole-run medians of each server would set
    one server's fast spell against another's slow one."""
    at, rounds = _goal_runs(runs)

    def ratios(top: tuple[str, str], bottom: tuple[str, str], key: str) -> list[float]:
        return _paired(at, rounds, top, bottom, key)

    out = []
    for protocol in PROTOCOLS:
        a, b, c, d = (
            (server, protocol)
            for server in ("a sluice", "b KServe predictor", "c ceiling", "d MLServer")
        )
        better_peer_p99 = [
            at[(n, *a)]["p99_ms"] / min(at[(n, *b)]["p99_ms"], at[(n, *d)]["p99_ms"])
            for n in rounds
        ]
        out += [
            _goal(f"{protocol}: a/c throughput >= 0.85", ratios(a, c, "throughput"), 0.85, True),
            _goal(f"{protocol}: p99 a <= 1.5 x p99 c", ratios(a, c, "p99_ms"), 1.5, False),
            _goal(f"{protocol}: a/b throughput >= 1.2", ratios(a, b, "throughput"), 1.2, True),
            _goal(f"{protocol}: a/d throughput >= 1.2", ratios(a, d, "throughput"), 1.2, True),
            _goal(f"{protocol}: p99 a <= p99 of the better of b, d", better_peer_p99, 1.0, False),
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


def peers_table(runs: list[dict]) -> list[dict]:
    """Every server at the goal concurrency, both protocols, in one table: its median run,
    what it logs per request, and sluice's throughput and p99 over its (paired within each
    round, median over rounds)."""
    at, rounds = _goal_runs(runs)
    median = {
        (r["server"], r["protocol"]): r
        for r in serving_table(runs)
        if r["concurrency"] == GOAL_CONCURRENCY
    }
    rows = []
    for protocol in PROTOCOLS:
        sluice = ("a sluice", protocol)
        for name, contender in SERVERS.items():
            run = median[(name, protocol)]
            rows.append(
                {
                    "protocol": protocol,
                    "server": name,
                    "req_per_s": run["throughput"],
                    "p50_ms": run["p50_ms"],
                    "p99_ms": run["p99_ms"],
                    "errors": run["errors"],
                    "cpu_us_per_request": run["cpu_us_per_request"],
                    "sluice_over_it_req_per_s": statistics.median(
                        _paired(at, rounds, sluice, (name, protocol), "throughput")
                    ),
                    "sluice_over_it_p99": statistics.median(
                        _paired(at, rounds, sluice, (name, protocol), "p99_ms")
                    ),
                    "per_request_logs": contender.logs,
                }
            )
    return rows


def check_rows(frame: pd.DataFrame, count: int = 5) -> pd.DataFrame:
    """`count` complete rows spread over the frame (JSON has no NaN), the first the load's
    request; the frame's first rows where none is complete."""
    complete = frame.dropna()
    pool = complete if len(complete) else frame
    return pool.iloc[:: max(len(pool) // count, 1)].head(count)


def main(model_dir: Path, frame_path: Path) -> None:
    """`model_dir`: the registered version's model directory, as a storage initializer
    copies it (the MLflow model, with sluice's metadata at its root): every server serves
    it."""
    frame = pd.read_parquet(frame_path)
    runs, answers = serving_runs(model_dir, check_rows(frame))
    rows = serving_table(runs)
    goal_rows = goals(runs)
    report(
        "serving_peers",
        f"every server at concurrency {GOAL_CONCURRENCY}, 1-row raw-feature requests "
        f"({SECONDS:.0f} s per run, median of {ROUNDS} paired rounds)",
        peers_table(runs),
        {"same_answers": answers, "goals": goal_rows},
    )
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
