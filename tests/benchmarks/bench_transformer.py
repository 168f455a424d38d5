"""The online path: 1-flight v1 requests through the transformer in combined mode over a
Redis online store, with and without its feature cache, next to the predictor alone (the
path's ceiling: the same flight's model input, sent to it directly). Concurrency 1 and 32,
each run SLUICE_BENCH_SECONDS long; at 32, SLUICE_BENCH_ROUNDS interleaved rounds whose
ratios are paired within each round. Each server runs 1 worker pinned to core 0, the load
generator on core 1; each run records the server's CPU time per request.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from rich.progress import track

from components.base.contract.names import FEATURE_SERVICE, MODEL_NAME
from components.featurize import run as featurize
from components.flights.feature_repo.store import FeastStores
from components.flights.request import EXAMPLE_REQUEST
from serving.process import model_server
from serving.transformer import FeastTransformer
from tests.benchmarks.bench_serving import (
    ROUNDS,
    SECONDS,
    _load,
    _measured_load,
    _median_run,
    _pin,
)
from tests.benchmarks.common import console, report
from tests.services import redis_server

CONCURRENCY = (1, 32)
GOAL_CONCURRENCY = 32
CEILING = "c predictor alone"
SERVERS = {  # running order within a round
    "a combined": ("combined", []),
    CEILING: ("predictor", []),
    "a' combined, no cache": ("combined", ["--feature_cache_ttl_s", "0"]),
}


def _bodies(repo: Path, stores: FeastStores) -> dict[str, bytes]:
    """v1 bodies: the flight as a caller sends it, and its model input as the transformer
    builds it (what the predictor alone gets)."""
    transformer = FeastTransformer(MODEL_NAME, repo, stores, FEATURE_SERVICE)
    transformer.load()
    flight = {name: [value] for name, value in EXAMPLE_REQUEST.items()}
    columns = asyncio.run(transformer.model_input(flight))
    features = {name: values[0] for name, values in columns.items()}
    return {
        "combined": json.dumps({"instances": [EXAMPLE_REQUEST]}).encode(),
        "predictor": json.dumps({"instances": [features]}).encode(),
    }


def _plan() -> list[tuple[int, str, int]]:
    """(round, server, concurrency): the goal concurrency in ROUNDS rounds, every server
    back to back, in reverse order every other round."""
    plan = []
    for concurrency in CONCURRENCY:
        rounds = ROUNDS if concurrency == GOAL_CONCURRENCY else 1
        for round_ in range(rounds):
            order = list(SERVERS) if round_ % 2 == 0 else list(SERVERS)[::-1]
            plan += [(round_, name, concurrency) for name in order]
    return plan


def transformer_runs(model_dir: Path, validated_dir: Path) -> list[dict]:
    with tempfile.TemporaryDirectory() as work, redis_server() as connection, ExitStack() as stack:
        repo = Path(work) / "repo"
        stores = FeastStores(online_store="redis", redis_connection=connection)
        featurize(validated_dir, repo, Path(work) / "frame.parquet", stores)
        bodies = _bodies(repo, stores)
        env = {**os.environ, "SLUICE_ONLINE_STORE": "redis", "SLUICE_REDIS_CONNECTION": connection}
        servers = {
            name: stack.enter_context(
                model_server(
                    *("--mode", mode, "--model_uri", str(model_dir), "--feature_repo", str(repo)),
                    *args,
                    env=env,
                    prefix=_pin(0),
                )
            )
            for name, (mode, args) in SERVERS.items()
        }
        url = "{}/v1/models/" + MODEL_NAME + ":predict"
        for name, (mode, _) in SERVERS.items():
            _load("rest", url.format(servers[name].http), bodies[mode], 4)  # warm-up
        runs = []
        for round_, name, concurrency in track(
            _plan(), description="transformer load", console=console
        ):
            mode, pid = SERVERS[name][0], servers[name].process.pid
            target = url.format(servers[name].http)
            result = _measured_load(pid, "rest", target, bodies[mode], concurrency)
            runs.append({"server": name, "concurrency": concurrency, "round": round_, **result})
        dead = [name for name, running in servers.items() if not running.alive]
        if dead:
            raise RuntimeError(f"died under load: {dead}")
    return runs


def paired_ratios(runs: list[dict]) -> list[dict]:
    """At the goal concurrency, each combined server against the predictor alone in the
    same round: throughput and p99 ratios, their median over the rounds."""
    goal = [r for r in runs if r["concurrency"] == GOAL_CONCURRENCY]
    ceiling = {r["round"]: r for r in goal if r["server"] == CEILING}
    rows = []
    for name in SERVERS:
        if name == CEILING:
            continue
        mine = [r for r in goal if r["server"] == name]
        throughput = [r["throughput"] / ceiling[r["round"]]["throughput"] for r in mine]
        p99 = [r["p99_ms"] / ceiling[r["round"]]["p99_ms"] for r in mine]
        rows.append(
            {
                "server": name,
                "throughput_vs_predictor": statistics.median(throughput),
                "p99_vs_predictor": statistics.median(p99),
                "rounds": len(mine),
            }
        )
    return rows


def main(model_dir: Path, validated_dir: Path) -> None:
    runs = transformer_runs(model_dir, validated_dir)
    table = [
        {
            k: r[k]
            for k in (
                "server",
                "concurrency",
                "throughput",
                "p50_ms",
                "p99_ms",
                "errors",
                "cpu_us_per_request",
                "runs",
                "spread",
            )
        }
        for r in (
            _median_run([x for x in runs if (x["server"], x["concurrency"]) == key])
            for key in dict.fromkeys((x["server"], x["concurrency"]) for x in runs)
        )
    ]
    ratios = paired_ratios(runs)
    report(
        "transformer_load",
        f"online path, Redis ({SECONDS:.0f} s per run, 1 worker)",
        table,
        {"ratios": ratios, "runs": runs},
    )
    report("transformer_ratios", f"combined vs predictor alone at c={GOAL_CONCURRENCY}", ratios)
