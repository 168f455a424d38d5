"""The online path, end to end: 1-flight v1 requests over a Redis online store, side by side
in one run, at concurrency 1, 8, 32 and 64:

- (a) the combined mode (transformer and predictor in one process), with its feature cache
  and (a') without;
- (b) the split mode, as on a cluster: the transformer and a predictor as two processes, the
  transformer calling the predictor over REST v1, REST v2 and gRPC;
- (c) the predictor alone, given the flight's model input: the path's ceiling;
- (d) the pattern of KServe's Feast transformer sample: per request, an HTTP call to Feast's
  own feature server (`feast serve` over the same repo and Redis), then the predictor over
  REST v1 (`tests/benchmarks/feast_serve_peer.py`).

"One core for the server": every server process is pinned to core 0, the split modes' and
the peer's two or three processes too, so each variant has the CPU budget of the combined
mode; the load generator runs on core 1. CPU per request is the user and system time of all
of a variant's processes (the predictor's, the feature server's) over the run.

Each run is SLUICE_BENCH_SECONDS long; at concurrency 32, SLUICE_BENCH_ROUNDS rounds with
every variant back to back, in reverse order every other round, and ratios paired within a
round; at concurrency 1 as many rounds, and the goal is the median run's p50. For the
combined mode, the split of time (`tests/benchmarks/time_split.py`) at every concurrency;
then a soak of SLUICE_BENCH_SOAK_SECONDS (60) at concurrency 64: its errors and the server's
RSS at start and end. SLUICE_BENCH_MONTHS (say `12`) featurizes only those months of the
flights, for a quicker smoke run. The issue's goals, met or missed, close it.

Alone: `python -m tests.benchmarks.bench_transformer MODEL_DIR VALIDATED_DIR`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import psutil
from rich.progress import track

from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import FEATURE_SERVICE, MODEL_NAME
from components.featurize import run as featurize
from components.flights.feature_repo.store import FeastStores
from components.flights.request import EXAMPLE_REQUEST
from components.flights.schema import REQUIRED_TABLES
from serving.process import Server, model_server
from serving.transformer import FeastTransformer
from tests.benchmarks.bench_serving import (
    ANSWER_TOLERANCE,
    ROUNDS,
    SECONDS,
    _cpu_seconds,
    _goal,
    _load,
    _median_run,
    _pin,
)
from tests.benchmarks.common import console, report
from tests.benchmarks.feast_serve_peer import feature_server
from tests.benchmarks.time_split import scrape, time_split
from tests.services import redis_server

CONCURRENCY = (1, 8, 32, 64)
GOAL_CONCURRENCY = 32
ROUNDS_AT = (1, GOAL_CONCURRENCY)
"""Concurrencies run in ROUNDS rounds: the goals' (a single 5-s run's p50 at c=1 moved
by a third between two quiet runs of the same code)."""
SOAK_SECONDS = float(os.environ.get("SLUICE_BENCH_SOAK_SECONDS", "60"))
SOAK_CONCURRENCY = 64
MONTHS = [int(m) for m in os.environ.get("SLUICE_BENCH_MONTHS", "").split(",") if m]

COMBINED, NO_CACHE = "a combined", "a' combined, no cache"
SPLIT = {"v1": "b split, REST v1", "v2": "b split, REST v2", "grpc-v2": "b split, gRPC"}
CEILING = "c predictor alone"
PEER = "d feast serve pattern"
VARIANTS = (COMBINED, CEILING, *SPLIT.values(), PEER, NO_CACHE)  # running order in a round
TIMED = (COMBINED, NO_CACHE)
"""The variants whose split of time is read off their `/metrics`."""


@dataclass
class Running:
    """A variant as the load sees it: the server it calls, and every process it costs."""

    server: Server
    pids: list[int]
    body: str  # "flight": what a caller sends; "model_input": what the predictor gets


def _sliced(validated_dir: Path, scratch: Path) -> Path:
    """The validated tables with only MONTHS of the flights (all of them when unset)."""
    if not MONTHS:
        return validated_dir
    sliced = scratch / "validated"
    sliced.mkdir()
    for table in REQUIRED_TABLES:
        shutil.copy2(validated_dir / f"{table}.parquet", sliced / f"{table}.parquet")
    flights = pd.read_parquet(validated_dir / "flights.parquet")
    flights[flights["month"].isin(MONTHS)].to_parquet(sliced / "flights.parquet", index=False)
    return sliced


def _bodies_and_refs(repo: Path, stores: FeastStores) -> tuple[dict[str, bytes], list[str]]:
    """v1 bodies: the flight as a caller sends it, and its model input as the transformer
    builds it (what the predictor alone gets); and the feature service's references in the
    model's order (what the peer asks the feature server for)."""
    transformer = FeastTransformer(MODEL_NAME, repo, stores, FEATURE_SERVICE)
    transformer.load()
    flight = {name: [value] for name, value in EXAMPLE_REQUEST.items()}
    columns = asyncio.run(transformer.model_input(flight))
    features = {name: values[0] for name, values in columns.items()}
    bodies = {
        "flight": json.dumps({"instances": [EXAMPLE_REQUEST]}).encode(),
        "model_input": json.dumps({"instances": [features]}).encode(),
    }
    return bodies, [ref for group in transformer.groups for ref in group.refs]


def _start(
    stack: ExitStack, model_dir: Path, repo: Path, env: dict, refs: list[str]
) -> dict[str, Running]:
    """Every variant's processes, pinned to core 0, ready. One predictor process serves the
    split modes, the peer and the predictor-alone runs (one variant runs at a time)."""
    minutes = ModelMetadata.read(model_dir).horizon_minutes
    model, feature_repo = ("--model_uri", str(model_dir)), ("--feature_repo", str(repo))

    def serve(*args: str, **kwargs) -> Server:
        started = model_server(*args, env=env, prefix=_pin(0), **kwargs)
        return stack.enter_context(started)

    predictor = serve("--mode", "predictor", *model)
    variants = {
        COMBINED: Running(serve("--mode", "combined", *model, *feature_repo), [], "flight"),
        NO_CACHE: Running(
            serve("--mode", "combined", *model, *feature_repo, "--feature_cache_ttl_s", "0"),
            [],
            "flight",
        ),
        CEILING: Running(predictor, [], "model_input"),
    }
    for protocol, name in SPLIT.items():
        host = predictor.grpc if protocol == "grpc-v2" else predictor.http.removeprefix("http://")
        transformer = serve(
            *("--mode", "transformer", *feature_repo, "--horizon", f"{minutes:g}min"),
            *("--predictor_host", host, "--predictor_protocol", protocol),
        )
        variants[name] = Running(transformer, [predictor.process.pid], "flight")
    url, feast = stack.enter_context(feature_server(repo, env, _pin(0)))
    peer = serve(
        *("--model_name", MODEL_NAME, "--feast_serving_url", url, "--feature_refs", *refs),
        *("--horizon_minutes", f"{minutes:g}"),
        *("--predictor_host", predictor.http.removeprefix("http://")),
        *("--predictor_protocol", "v1"),
        module="tests.benchmarks.feast_serve_peer",
    )
    variants[PEER] = Running(peer, [predictor.process.pid, feast.pid], "flight")
    for running in variants.values():
        running.pids.insert(0, running.server.process.pid)
    return variants


def _v1_url(server: Server) -> str:
    return f"{server.http}/v1/models/{MODEL_NAME}:predict"


def same_answers(variants: dict[str, Running], bodies: dict[str, bytes]) -> dict[str, list]:
    """Every variant's answer to the flight (the predictor alone's to its model input): they
    must agree, or the variants would not be doing the same work."""
    answers = {
        name: httpx.post(
            _v1_url(running.server),
            content=bodies[running.body],
            headers={"content-type": "application/json"},
            timeout=30,
        )
        .raise_for_status()
        .json()["predictions"]
        for name, running in variants.items()
    }
    expected = answers[CEILING]
    for name, got in answers.items():
        if len(got) != len(expected) or any(
            abs(a - b) > ANSWER_TOLERANCE for a, b in zip(got, expected, strict=True)
        ):
            raise RuntimeError(f"{name} answers {got}, the predictor alone {expected}")
    return answers


def _plan() -> list[tuple[int, str, int]]:
    """(round, variant, concurrency): the goals' concurrencies in ROUNDS rounds, every
    variant back to back, in reverse order every other round; the others once."""
    plan = []
    for concurrency in CONCURRENCY:
        rounds = ROUNDS if concurrency in ROUNDS_AT else 1
        for round_ in range(rounds):
            order = list(VARIANTS) if round_ % 2 == 0 else list(VARIANTS)[::-1]
            plan += [(round_, name, concurrency) for name in order]
    return plan


def measured_run(
    name: str, running: Running, body: bytes, concurrency: int, seconds: float = SECONDS
) -> dict:
    """One load run with the CPU time per answered request of all the variant's processes,
    and for a timed variant its split of time (its `/metrics` scraped outside the CPU
    window)."""
    timed = name in TIMED
    before = scrape(running.server.http) if timed else None
    cpu_before = sum(_cpu_seconds(pid) for pid in running.pids)
    result = _load("rest", _v1_url(running.server), body, concurrency, seconds)
    cpu = sum(_cpu_seconds(pid) for pid in running.pids) - cpu_before
    result["cpu_us_per_request"] = cpu / max(result["requests"], 1) * 1e6
    if timed and result["requests"]:
        result["split"] = time_split(before, scrape(running.server.http), result["mean_ms"])
    return result


def soak(running: Running, body: bytes, seconds: float = SOAK_SECONDS) -> dict:
    """The combined mode at SOAK_CONCURRENCY for `seconds`: errors, and its RSS before and
    after (growth in percent)."""
    process = psutil.Process(running.server.process.pid)
    start = process.memory_info().rss
    result = _load("rest", _v1_url(running.server), body, SOAK_CONCURRENCY, seconds)
    end = process.memory_info().rss
    return {
        "server": COMBINED,
        "concurrency": SOAK_CONCURRENCY,
        "seconds": result["seconds"],
        "requests": result["requests"],
        "errors": result["errors"],
        "throughput": result["throughput"],
        "p99_ms": result["p99_ms"],
        "rss_start_mib": start / 2**20,
        "rss_end_mib": end / 2**20,
        "rss_growth_pct": (end - start) / start * 100,
    }


def transformer_runs(model_dir: Path, validated_dir: Path) -> tuple[list[dict], dict, dict]:
    """Every run of `_plan`, the soak, and the variants' answers."""
    with tempfile.TemporaryDirectory() as work, redis_server() as connection, ExitStack() as stack:
        scratch = Path(work)
        repo = scratch / "repo"
        stores = FeastStores(online_store="redis", redis_connection=connection)
        with console.status("featurizing into Redis"):
            featurize(_sliced(validated_dir, scratch), repo, scratch / "frame.parquet", stores)
        bodies, refs = _bodies_and_refs(repo, stores)
        env = {**os.environ, "SLUICE_ONLINE_STORE": "redis", "SLUICE_REDIS_CONNECTION": connection}
        with console.status("starting every variant"):
            variants = _start(stack, model_dir, repo, env, refs)
        answers = same_answers(variants, bodies)
        for running in variants.values():
            _load("rest", _v1_url(running.server), bodies[running.body], 4)  # warm-up
        runs = []
        for round_, name, concurrency in track(
            _plan(), description="online path load", console=console
        ):
            running = variants[name]
            result = measured_run(name, running, bodies[running.body], concurrency)
            runs.append({"server": name, "concurrency": concurrency, "round": round_, **result})
        with console.status(f"soak: {SOAK_SECONDS:.0f} s at concurrency {SOAK_CONCURRENCY}"):
            soaked = soak(variants[COMBINED], bodies["flight"])
        dead = [name for name, running in variants.items() if not running.server.alive]
        if dead:
            raise RuntimeError(f"died under load: {dead}")
    return runs, soaked, answers


def _goal_runs(runs: list[dict]) -> dict[tuple[int, str], dict]:
    return {(r["round"], r["server"]): r for r in runs if r["concurrency"] == GOAL_CONCURRENCY}


def paired(runs: list[dict], top: str, bottom: str, key: str) -> list[float]:
    """top's `key` over bottom's at the goal concurrency, per round (runs minutes apart at
    most: a slow spell of the machine touches both)."""
    at = _goal_runs(runs)
    rounds = sorted({round_ for round_, _ in at})
    return [at[(n, top)][key] / at[(n, bottom)][key] for n in rounds]


def paired_ratios(runs: list[dict]) -> list[dict]:
    """At the goal concurrency, each variant against the predictor alone and against the
    feature-server pattern in the same round: medians over the rounds."""
    return [
        {
            "server": name,
            "throughput_vs_predictor": statistics.median(paired(runs, name, CEILING, "throughput")),
            "p99_vs_predictor": statistics.median(paired(runs, name, CEILING, "p99_ms")),
            "throughput_vs_feast_serve": statistics.median(paired(runs, name, PEER, "throughput")),
            "rounds": len(paired(runs, name, CEILING, "throughput")),
        }
        for name in VARIANTS
        if name != CEILING
    ]


def _single(label: str, value: float, bound: float, at_least: bool) -> dict:
    met = value >= bound if at_least else value <= bound
    return {"goal": label, "value": value, "met": "yes" if met else "NO", "per_round": ""}


def goals(runs: list[dict], soaked: dict) -> list[dict]:
    """The issue's goals, each with what was measured; ratios are paired medians."""
    c1 = _median_run([r for r in runs if r["server"] == COMBINED and r["concurrency"] == 1])

    def ratio(label: str, top: str, bottom: str, key: str, bound: float, at_least: bool):
        return _goal(label, paired(runs, top, bottom, key), bound, at_least)

    return [
        ratio("a/c throughput at c=32 >= 0.5", COMBINED, CEILING, "throughput", 0.5, True),
        ratio("p99 a <= 2 x p99 c at c=32", COMBINED, CEILING, "p99_ms", 2.0, False),
        _single("a: p50 at c=1 <= 3 ms", c1["p50_ms"], 3.0, False),
        ratio(
            "b gRPC/c throughput at c=32 >= 0.4", SPLIT["grpc-v2"], CEILING, "throughput", 0.4, True
        ),
        ratio("a/d throughput at c=32 >= 3", COMBINED, PEER, "throughput", 3.0, True),
        ratio("b REST v1/d throughput at c=32 >= 3", SPLIT["v1"], PEER, "throughput", 3.0, True),
        _single("soak: errors = 0", float(soaked["errors"]), 0.0, False),
        _single("soak: RSS growth < 10 %", soaked["rss_growth_pct"], 10.0, False),
    ]


LOAD_COLUMNS = (
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


def load_table(runs: list[dict]) -> list[dict]:
    """One row per variant and concurrency: its median run."""
    keys = dict.fromkeys((r["server"], r["concurrency"]) for r in runs)
    medians = (_median_run([r for r in runs if (r["server"], r["concurrency"]) == k]) for k in keys)
    return sorted(
        ({k: r[k] for k in LOAD_COLUMNS} for r in medians),
        key=lambda r: (r["server"], r["concurrency"]),
    )


def split_table(runs: list[dict]) -> list[dict]:
    """The timed variants' split of time, from each one's median run per concurrency."""
    rows = []
    for name in TIMED:
        for concurrency in CONCURRENCY:
            mine = [r for r in runs if (r["server"], r["concurrency"]) == (name, concurrency)]
            if mine and "split" in _median_run(mine):
                split = _median_run(mine)["split"]
                rows.append({"server": name, "concurrency": concurrency, **split})
    return rows


def main(model_dir: Path, validated_dir: Path) -> None:
    runs, soaked, answers = transformer_runs(model_dir, validated_dir)
    goal_rows = goals(runs, soaked)
    at = " and ".join(map(str, ROUNDS_AT))
    title = f"{SECONDS:.0f} s per run, {ROUNDS} paired rounds at c={at}"
    report(
        "transformer_load",
        f"online path over Redis, 1-flight v1 requests ({title})",
        load_table(runs),
        {"answers": answers, "runs": runs},
    )
    report(
        "transformer_ratios",
        f"against the predictor alone and the feast serve pattern at c={GOAL_CONCURRENCY}",
        paired_ratios(runs),
    )
    report("transformer_time_split", "where a request's time goes (ms, mean)", split_table(runs))
    report("transformer_soak", f"soak at c={SOAK_CONCURRENCY}", [soaked])
    report("transformer_goals", "online path goals (issue 16)", goal_rows)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m tests.benchmarks.bench_transformer MODEL VALIDATED")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
