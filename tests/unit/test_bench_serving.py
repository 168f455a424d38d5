"""The serving benchmark's verdicts: which run stands for a server, and which goals it meets."""

import pytest

from tests.benchmarks import bench_serving
from tests.benchmarks.bench_serving import (
    GOAL_CONCURRENCY,
    SERVERS,
    _median_run,
    _plan,
    answer_differences,
    goals,
    peers_table,
    probabilities,
)


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
    assert len(others) == 4 * 2 * (len(bench_serving.CONCURRENCY) - 1)
    assert not [s for s in others if "'" in s]


def _runs(round_, a_rest, a_grpc, errors=0, mlserver_grpc_p99=40.0):
    """One round at the goal concurrency: sluice's throughputs given, the others fixed."""
    figures = {
        ("a sluice", "rest"): (a_rest, 30.0),
        ("a sluice", "grpc"): (a_grpc, 30.0),
        ("b KServe predictor", "rest"): (900.0, 45.0),
        ("b KServe predictor", "grpc"): (1000.0, 45.0),
        ("c ceiling", "rest"): (1400.0, 25.0),
        ("c ceiling", "grpc"): (1500.0, 25.0),
        ("d MLServer", "rest"): (950.0, 50.0),
        ("d MLServer", "grpc"): (1000.0, mlserver_grpc_p99),
        ("d' MLServer, defaults", "rest"): (600.0, 70.0),
        ("d' MLServer, defaults", "grpc"): (700.0, 60.0),
        ("a' sluice, batching off", "rest"): (1000.0, 35.0),
        ("a' sluice, batching off", "grpc"): (1100.0, 35.0),
    }
    return [
        {
            "server": server,
            "protocol": protocol,
            "concurrency": GOAL_CONCURRENCY,
            "round": round_,
            "throughput": throughput,
            "p50_ms": p99 / 2,
            "p99_ms": p99,
            "cpu_us_per_request": 1e6 / throughput,
            "errors": errors if server == "a sluice" else 0,
        }
        for (server, protocol), (throughput, p99) in figures.items()
    ]


@pytest.mark.parametrize(
    ("sluice_grpc", "errors", "mlserver_grpc_p99", "unmet"),
    [
        (1300.0, 0, 40.0, []),
        (
            1100.0,
            0,
            40.0,
            [
                "grpc: a/c throughput >= 0.85",
                "grpc: a/b throughput >= 1.2",
                "grpc: a/d throughput >= 1.2",
                "a: gRPC throughput >= REST",
            ],
        ),
        (1300.0, 2, 40.0, ["zero errors"]),
        (1300.0, 0, 20.0, ["grpc: p99 a <= p99 of the better of b, d"]),
    ],
)
def test_goals_say_which_are_met(sluice_grpc, errors, mlserver_grpc_p99, unmet):
    runs = _runs(0, 1200.0, sluice_grpc, errors, mlserver_grpc_p99)
    verdicts = {g["goal"]: g["met"] for g in goals(runs)}
    assert len(verdicts) == 12
    assert [goal for goal, met in verdicts.items() if met == "NO"] == unmet


def test_ratios_are_paired_within_a_round_and_judged_on_their_median():
    runs = _runs(0, 1190.0, 1300.0) + _runs(1, 1050.0, 1300.0) + _runs(2, 1260.0, 1300.0)
    slow_spell = next(r for r in runs if r["round"] == 1 and r["server"] == "c ceiling")
    slow_spell["throughput"] /= 2  # the machine slowed down for the ceiling's run only
    rest = next(g for g in goals(runs) if g["goal"] == "rest: a/c throughput >= 0.85")
    assert rest["per_round"] == "0.85 1.50 0.90"
    assert rest["value"] == pytest.approx(0.9)
    assert rest["met"] == "yes"


def test_one_table_shows_every_server_for_both_protocols_with_sluice_over_each():
    runs = _runs(0, 1190.0, 1300.0) + _runs(1, 1050.0, 1300.0) + _runs(2, 1260.0, 1300.0)
    rows = peers_table(runs)
    assert [(r["protocol"], r["server"]) for r in rows] == [
        (protocol, server) for protocol in ("rest", "grpc") for server in SERVERS
    ]
    by = {(r["protocol"], r["server"]): r for r in rows}
    mlserver = by[("rest", "d MLServer")]
    assert mlserver["req_per_s"] == 950.0  # its median run
    assert mlserver["sluice_over_it_req_per_s"] == pytest.approx(1190.0 / 950.0)
    assert mlserver["sluice_over_it_p99"] == pytest.approx(30.0 / 50.0)
    assert mlserver["per_request_logs"] == "none (debug: false)"
    assert "debug: true" in by[("grpc", "d' MLServer, defaults")]["per_request_logs"]
    assert by[("grpc", "a sluice")]["sluice_over_it_req_per_s"] == 1.0


def test_answers_are_read_by_output_name_whatever_their_shape():
    mlserver = {
        "outputs": [
            {"name": "probability", "shape": [1, 1], "datatype": "FP32", "data": [0.25]},
            {"name": "unseen", "shape": [1, 1], "datatype": "INT64", "data": [0]},
        ]
    }
    assert probabilities(mlserver) == [0.25]
    with pytest.raises(ValueError):
        probabilities({"outputs": [{"name": "delayed", "data": [1]}]})


def test_answer_differences_are_taken_row_by_row_against_the_reference():
    answers = {"a": [0.1, 0.2], "b": [0.1, 0.2], "d": [0.1, 0.2005]}
    assert answer_differences(answers, "a") == {"a": 0.0, "b": 0.0, "d": pytest.approx(5e-4)}
    with pytest.raises(ValueError, match="different numbers of rows"):
        answer_differences({"a": [0.1, 0.2], "d": [0.1]}, "a")
