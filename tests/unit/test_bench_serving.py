"""The serving benchmark's verdicts: which run stands for a server, and which goals it meets."""

import pytest

from tests.benchmarks.bench_serving import GOAL_CONCURRENCY, _median_run, goals


def test_a_server_reports_its_median_run_and_the_spread_of_its_runs():
    runs = [{"throughput": t, "p99_ms": p} for t, p in ((900.0, 9), (1200.0, 12), (1000.0, 10))]
    assert _median_run(runs) == {"throughput": 1000.0, "p99_ms": 10, "runs": 3, "spread": 0.3}
    assert _median_run(runs[:1])["spread"] == 0.0


def _row(server, protocol, throughput, p99, errors=0):
    return {
        "server": server,
        "protocol": protocol,
        "concurrency": GOAL_CONCURRENCY,
        "throughput": throughput,
        "p99_ms": p99,
        "errors": errors,
    }


@pytest.mark.parametrize(
    ("sluice_grpc", "errors", "unmet"),
    [
        (1300.0, 0, []),
        (1100.0, 0, ["grpc: a/c throughput >= 0.8", "a: gRPC throughput >= REST"]),
        (1300.0, 2, ["zero errors"]),
    ],
)
def test_goals_say_which_are_met(sluice_grpc, errors, unmet):
    rows = [
        _row("a sluice", "rest", 1200.0, 30.0),
        _row("a sluice", "grpc", sluice_grpc, 30.0, errors),
        _row("b textbook", "rest", 500.0, 90.0),
        _row("b textbook", "grpc", 500.0, 90.0),
        _row("c ceiling", "rest", 1400.0, 25.0),
        _row("c ceiling", "grpc", 1500.0, 25.0),
    ]
    verdicts = {g["goal"]: g["met"] for g in goals(rows)}
    assert len(verdicts) == 8
    assert [goal for goal, met in verdicts.items() if met == "NO"] == unmet
