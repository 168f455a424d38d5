"""The online-path benchmark's plan, paired ratios, goals and tables."""

import pytest

from tests.benchmarks import bench_transformer as bench


@pytest.mark.parametrize("concurrency", [1, 32])
def test_each_round_runs_every_variant_and_alternates_the_order(concurrency):
    goal = [p for p in bench._plan() if p[2] == concurrency]
    rounds = sorted({p[0] for p in goal})
    assert len(rounds) == bench.ROUNDS
    orders = [[name for r, name, _ in goal if r == round_] for round_ in rounds]
    assert all(sorted(order) == sorted(bench.VARIANTS) for order in orders)
    if len(orders) > 1:
        assert orders[1] == orders[0][::-1]


def test_every_variant_runs_once_at_every_other_concurrency():
    others = [p for p in bench._plan() if p[2] not in (1, 32)]
    assert sorted((name, c) for _, name, c in others) == sorted(
        (name, c) for name in bench.VARIANTS for c in (8, 64)
    )


def _run(server, round_, throughput, p99, concurrency=bench.GOAL_CONCURRENCY, **extra):
    return {
        "server": server,
        "concurrency": concurrency,
        "round": round_,
        "throughput": throughput,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        "errors": 0,
        "cpu_us_per_request": 1e6 / throughput,
        **extra,
    }


def _rounds(scale: dict[int, float]) -> list[dict]:
    """Every variant in each round; a round's `scale` slows all of it alike."""
    base = {
        bench.CEILING: (1000, 10),
        bench.COMBINED: (600, 15),
        bench.PEER: (100, 300),
        bench.SPLIT["v1"]: (250, 60),
    }
    runs = []
    for round_, factor in scale.items():
        for name in bench.VARIANTS:
            throughput, p99 = base.get(name, (450, 40))
            runs.append(_run(name, round_, throughput * factor, p99 / factor))
    return runs


def test_ratios_pair_each_run_with_the_predictor_and_the_peer_in_its_own_round():
    ratios = {r["server"]: r for r in bench.paired_ratios(_rounds({0: 1.0, 1: 0.5}))}
    assert bench.CEILING not in ratios
    assert ratios[bench.COMBINED]["throughput_vs_predictor"] == pytest.approx(0.6)
    assert ratios[bench.COMBINED]["p99_vs_predictor"] == pytest.approx(1.5)
    assert ratios[bench.COMBINED]["throughput_vs_feast_serve"] == pytest.approx(6.0)
    assert ratios[bench.SPLIT["grpc-v2"]]["throughput_vs_predictor"] == pytest.approx(0.45)
    assert ratios[bench.PEER]["throughput_vs_feast_serve"] == pytest.approx(1.0)
    assert ratios[bench.COMBINED]["rounds"] == 2


@pytest.mark.parametrize(
    ("c1_p50", "soak_errors", "rss_growth", "missed"),
    [
        (2.5, 0, 1.0, {"b REST v1/d throughput at c=32 >= 3"}),
        (
            3.5,
            2,
            12.0,
            {
                "a: p50 at c=1 <= 3 ms",
                "b REST v1/d throughput at c=32 >= 3",
                "soak: errors = 0",
                "soak: RSS growth < 10 %",
            },
        ),
    ],
)
def test_goals_say_which_are_met(c1_p50, soak_errors, rss_growth, missed):
    runs = _rounds({0: 1.0, 1: 0.8})
    runs.append(_run(bench.COMBINED, 0, 400, 2 * c1_p50, concurrency=1))
    soaked = {"errors": soak_errors, "rss_growth_pct": rss_growth}
    rows = {row["goal"]: row for row in bench.goals(runs, soaked)}
    assert {goal for goal, row in rows.items() if row["met"] == "NO"} == missed
    assert rows["a/d throughput at c=32 >= 3"]["value"] == pytest.approx(6.0)
    assert rows["b gRPC/c throughput at c=32 >= 0.4"]["value"] == pytest.approx(0.45)
    assert rows["a: p50 at c=1 <= 3 ms"]["value"] == c1_p50


def test_the_split_of_time_comes_from_each_timed_variants_median_run():
    split = {"latency_ms": 4.0, "feature_fetch_ms": 1.0}
    runs = [
        _run(bench.COMBINED, 0, 300, 8, concurrency=1, split=split),
        _run(bench.COMBINED, 0, 900, 40, split={**split, "latency_ms": 30.0}),
        _run(bench.COMBINED, 1, 1000, 40, split={**split, "latency_ms": 29.0}),
        _run(bench.COMBINED, 2, 800, 40, split={**split, "latency_ms": 31.0}),
        _run(bench.CEILING, 0, 1000, 10),
    ]
    rows = bench.split_table(runs)
    assert [(r["server"], r["concurrency"], r["latency_ms"]) for r in rows] == [
        (bench.COMBINED, 1, 4.0),
        (bench.COMBINED, 32, 30.0),  # the median throughput's run
    ]


def test_the_load_table_has_one_median_row_per_variant_and_concurrency():
    runs = _rounds({0: 1.0, 1: 0.5, 2: 0.8})
    rows = bench.load_table(runs)
    assert len(rows) == len(bench.VARIANTS)
    combined = next(r for r in rows if r["server"] == bench.COMBINED)
    assert combined["throughput"] == pytest.approx(480)
    assert combined["runs"] == 3
    assert list(combined) == list(bench.LOAD_COLUMNS)
