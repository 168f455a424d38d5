"""The serving benchmark's verdicts: which run stands for a server, and which goals it meets."""

import pytest

from tests.benchmarks import bench_serving
from tests.benchmarks.bench_serving import GOAL_CONCURRENCY, _median_run, _plan, goals


def test_a_server_reports_its_median_run_and_the_spread_of_its_runs():
    runs = [{"throughput": t, "p99_ms": p} for t, p in ((900.0, 9), (1200.0, 12), (1000.0, 10))]
    assert _median_run(runs) == {"throughput": 1000.0, "p99_ms": 10, "runs": 3, "spread": 0.3}
    assert _median_run(runs[:1])["spread"] == 0.0


def test_the_plan_runs_the_goal_concurrency_in_rounds_of_alternating_order(monkeypatch):
    monkeypatch.setattr(bench_serving, "ROUNDS", 3)
    plan = _plan()
    goal = [(r, p, s) for r, p, s, c in plan if c == GOAL_CONCURRENCY]
    servers = list(bench_serving.SERVERS)
    for round_ in range(3):
        order = servers if round_ % 2 == 0 else servers[::-1]
        assert [s for r, p, s in goal if r == round_ and p == "rest"] == order
        assert [s for r, p, s in goal if r == round_ and p == "grpc"] == order
    others = [s for _, _, s, c in plan if c != GOAL_CONCURRENCY]
    assert len(others) == 3 * 2 * (len(bench_serving.CONCURRENCY) - 1)
    assert not [s for s in others if s.startswith("a'")]


def _runs(round_, a_rest, a_grpc, errors=0):
    """One round at the goal concurrency: sluice's throughputs given, the others fixed."""
    figures = {
        ("a sluice", "rest"): (a_rest, 30.0),
        ("a sluice", "grpc"): (a_grpc, 30.0),
        ("b textbook", "rest"): (500.0, 90.0),
        ("b textbook", "grpc"): (500.0, 90.0),
        ("c ceiling", "rest"): (1400.0, 25.0),
        ("c ceiling", "grpc"): (1500.0, 25.0),
    }
    return [
        {
            "server": server,
            "protocol": protocol,
            "concurrency": GOAL_CONCURRENCY,
            "round": round_,
            "throughput": throughput,
            "p99_ms": p99,
            "errors": errors if server == "a sluice" else 0,
        }
        for (server, protocol), (throughput, p99) in figures.items()
    ]


@pytest.mark.parametrize(
    ("sluice_grpc", "errors", "unmet"),
    [
        (1300.0, 0, []),
        (1100.0, 0, ["grpc: a/c throughput >= 0.8", "a: gRPC throughput >= REST"]),
        (1300.0, 2, ["zero errors"]),
    ],
)
def test_goals_say_which_are_met(sluice_grpc, errors, unmet):
    verdicts = {g["goal"]: g["met"] for g in goals(_runs(0, 1200.0, sluice_grpc, errors))}
    assert len(verdicts) == 8
    assert [goal for goal, met in verdicts.items() if met == "NO"] == unmet


def test_ratios_are_paired_within_a_round_and_judged_on_their_median():
    runs = _runs(0, 1190.0, 1300.0) + _runs(1, 1050.0, 1300.0) + _runs(2, 1260.0, 1300.0)
    slow_spell = next(r for r in runs if r["round"] == 1 and r["server"] == "c ceiling")
    slow_spell["throughput"] /= 2  # the machine slowed down for the ceiling's run only
    rest = next(g for g in goals(runs) if g["goal"] == "rest: a/c throughput >= 0.8")
    assert rest["per_round"] == "0.85 1.50 0.90"
    assert rest["value"] == pytest.approx(0.9)
    assert rest["met"] == "yes"
