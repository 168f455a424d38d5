"""The online-path benchmark's plan and its paired ratios."""

import pytest

from tests.benchmarks import bench_transformer as bench


def test_each_round_runs_every_server_and_alternates_the_order():
    goal = [p for p in bench._plan() if p[2] == bench.GOAL_CONCURRENCY]
    rounds = sorted({p[0] for p in goal})
    assert len(rounds) == bench.ROUNDS
    orders = [[name for r, name, _ in goal if r == round_] for round_ in rounds]
    assert all(sorted(order) == sorted(bench.SERVERS) for order in orders)
    if len(orders) > 1:
        assert orders[1] == orders[0][::-1]


def test_ratios_pair_each_run_with_the_predictor_in_its_own_round():
    def run(server, round_, throughput, p99):
        return {
            "server": server,
            "concurrency": bench.GOAL_CONCURRENCY,
            "round": round_,
            "throughput": throughput,
            "p99_ms": p99,
        }

    runs = [
        run(bench.CEILING, 0, 1000, 10),
        run("a combined", 0, 500, 20),
        run(bench.CEILING, 1, 500, 20),  # a slow round: both halves slow
        run("a combined", 1, 250, 40),
        run("a' combined, no cache", 0, 100, 50),
        run("a' combined, no cache", 1, 100, 50),
    ]
    ratios = {r["server"]: r for r in bench.paired_ratios(runs)}
    assert ratios["a combined"]["throughput_vs_predictor"] == pytest.approx(0.5)
    assert ratios["a combined"]["p99_vs_predictor"] == pytest.approx(2.0)
    assert ratios["a' combined, no cache"]["throughput_vs_predictor"] == pytest.approx(0.15)
