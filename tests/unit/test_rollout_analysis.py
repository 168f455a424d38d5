"""The rollout's judge, on samples that differ: a canary fails a metric only when it is worse
by more than the minimum effect and significantly so; too little evidence is inconclusive."""

import math

import numpy as np
import pytest

from components.rollout.analysis import (
    LATENCY_P99,
    SCORE_PSI,
    SUCCESS_RATE,
    Outcome,
    Sample,
    Thresholds,
    analyse,
    latency_p99,
    psi,
    score_shift,
    success_rate,
)

LIMITS = Thresholds()
SCORES = (40.0, 120.0, 200.0, 160.0, 90.0, 50.0, 25.0, 10.0, 5.0)
P99 = (0.010, 0.011, 0.0105, 0.0098, 0.0102, 0.0101, 0.0099, 0.0103)


def sample(requests=2000, errors=0, p99=P99, scores=SCORES) -> Sample:
    return Sample(requests, errors, tuple(p99), tuple(scores))


def by_metric(analysis):
    return {c.metric: c for c in analysis.checks}


def test_equal_versions_pass_every_check():
    analysis = analyse(sample(), sample(requests=18000), LIMITS)
    assert analysis.outcome is Outcome.PASS and analysis.score == 1.0
    assert {c.metric for c in analysis.checks} == {SUCCESS_RATE, LATENCY_P99, SCORE_PSI}


def test_a_canary_answering_errors_fails_its_success_rate():
    check = success_rate(sample(errors=200), sample(requests=18000, errors=18), LIMITS)
    assert check.outcome is Outcome.FAIL
    assert check.p_value < 1e-10 and check.effect == pytest.approx(0.1 - 0.001)
    assert check.canary == pytest.approx(0.9)
    analysis = analyse(sample(errors=200), sample(requests=18000, errors=18), LIMITS)
    assert analysis.outcome is Outcome.FAIL and analysis.score == pytest.approx(2 / 3)


def test_a_significant_but_tiny_error_increase_passes():
    # 0.5% more errors on a million requests: certain, and below the 1% that matters
    check = success_rate(
        sample(requests=1_000_000, errors=15_000),
        sample(requests=9_000_000, errors=90_000),
        LIMITS,
    )
    assert check.p_value < 1e-6
    assert check.outcome is Outcome.PASS


def test_a_large_error_increase_on_few_requests_is_inconclusive():
    # 1 error in 10 against none in 40: +10%, but chance could do that
    check = success_rate(sample(requests=10, errors=1), sample(requests=40), LIMITS)
    assert check.effect > LIMITS.max_error_rate_increase
    assert check.p_value >= LIMITS.alpha
    assert check.outcome is Outcome.INCONCLUSIVE


def test_a_slow_canary_fails_its_latency():
    slow = sample(p99=[v * 3 for v in P99])
    check = latency_p99(slow, sample(), LIMITS)
    assert check.outcome is Outcome.FAIL
    assert check.canary == pytest.approx(3 * np.median(P99))
    assert check.p_value < 0.01


def test_a_significant_but_tiny_latency_increase_passes():
    # every point 0.3 ms slower: significant, but within 25% and under the 5 ms floor
    steady = [0.010 + 0.0001 * (i % 7) for i in range(30)]
    check = latency_p99(sample(p99=[v + 0.0003 for v in steady]), sample(p99=steady), LIMITS)
    assert check.p_value < LIMITS.alpha
    assert check.outcome is Outcome.PASS


def test_a_large_latency_difference_on_too_few_points_is_inconclusive():
    check = latency_p99(sample(p99=[0.2, math.nan]), sample(), LIMITS)
    assert check.outcome is Outcome.INCONCLUSIVE and check.p_value is None
    # enough points, but too scattered to tell
    noisy = latency_p99(
        sample(p99=[0.03, 0.5, 0.003, 0.02]), sample(p99=[0.004, 0.003, 0.2, 0.01]), LIMITS
    )
    assert noisy.effect > LIMITS.min_latency_increase_s and noisy.p_value >= LIMITS.alpha
    assert noisy.outcome is Outcome.INCONCLUSIVE


def test_three_points_against_three_are_too_few_to_tell():
    # one-sided Mann-Whitney U cannot go below p = 0.05 on 3 against 3, however far apart
    check = latency_p99(sample(p99=[1.1, 1.2, 1.3]), sample(p99=[0.011, 0.012, 0.013]), LIMITS)
    assert check.outcome is Outcome.INCONCLUSIVE and check.p_value is None


def test_thresholds_out_of_range_are_refused_naming_the_field():
    from components.rollout.errors import RolloutConfigError

    with pytest.raises(RolloutConfigError, match=r"alpha 1.5: a significance level"):
        Thresholds(alpha=1.5)
    with pytest.raises(RolloutConfigError, match=r"max_psi -0.1: must not be negative"):
        Thresholds(max_psi=-0.1)


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift():
    base = np.array(SCORES)
    assert psi(base, base * 7) == pytest.approx(0.0, abs=1e-12)
    shifted = np.roll(base, 2)
    assert psi(base, shifted) > psi(base, np.roll(base, 1)) > 0.05


def test_shifted_scores_fail_and_a_small_shift_on_many_scores_passes():
    shifted = score_shift(sample(scores=np.roll(SCORES, 3) * 10), sample(), LIMITS)
    assert shifted.outcome is Outcome.FAIL and shifted.effect > LIMITS.max_psi
    nudged = np.array(SCORES) * 1000
    nudged[2] += 4000  # significant on 700k scores, a PSI far below 0.2
    small = score_shift(sample(scores=nudged), sample(scores=np.array(SCORES) * 9000), LIMITS)
    assert small.p_value < LIMITS.alpha and small.effect < LIMITS.max_psi
    assert small.outcome is Outcome.PASS


def test_sparse_buckets_are_pooled_before_the_chi_squared_test():
    from components.rollout.analysis import pooled

    table = np.array([[0, 0, 3, 0, 12], [50, 60, 70, 80, 90]], dtype=float)
    merged = pooled(table)
    assert merged.sum() == table.sum() and (merged.sum(axis=1) == table.sum(axis=1)).all()
    expected = merged.sum(axis=1, keepdims=True) * merged.sum(axis=0) / merged.sum()
    assert (expected >= 5).all() and merged.shape[1] < table.shape[1]


def test_a_score_shift_on_a_handful_of_scores_is_inconclusive():
    few = [0, 0, 0, 0, 0, 1, 1, 1, 0]
    check = score_shift(sample(scores=few), sample(), LIMITS)
    assert check.effect > LIMITS.max_psi and check.p_value >= LIMITS.alpha
    assert check.outcome is Outcome.INCONCLUSIVE


def test_too_few_canary_requests_is_inconclusive_whatever_the_checks_say():
    analysis = analyse(sample(requests=40, errors=40), sample(requests=18000), LIMITS)
    assert by_metric(analysis)[SUCCESS_RATE].outcome is Outcome.FAIL  # recorded all the same
    assert analysis.outcome is Outcome.INCONCLUSIVE
    assert analysis.to_dict()["canary_requests"] == 40


def test_one_inconclusive_metric_makes_the_step_inconclusive():
    analysis = analyse(sample(p99=[0.01]), sample(requests=18000), LIMITS)
    assert by_metric(analysis)[LATENCY_P99].outcome is Outcome.INCONCLUSIVE
    assert analysis.outcome is Outcome.INCONCLUSIVE and analysis.score == pytest.approx(2 / 3)


def test_a_prometheus_that_cannot_answer_makes_the_analysis_inconclusive():
    from components.rollout.config import RolloutConfig
    from components.rollout.judge import PrometheusAnalyst
    from components.rollout.prometheus import Prometheus
    from serving.process import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    analysis = PrometheusAnalyst(Prometheus(closed, attempts=1), RolloutConfig()).analyse(
        "2", 0.0, 60.0
    )
    assert analysis.outcome is Outcome.INCONCLUSIVE and analysis.checks == ()
    assert "Prometheus at http://127.0.0.1" in analysis.error
    assert analysis.to_dict()["error"] == analysis.error


def test_prometheus_errors_name_the_query_and_5xx_are_retried():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from components.base.services import ServiceUnavailable
    from components.rollout.prometheus import Prometheus, PrometheusError

    answers = [
        (502, b"<html>bad gateway</html>"),
        (400, b'{"status":"error","errorType":"bad_data","error":"parse error"}'),
    ]
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.path)
            code, body = answers[0] if len(seen) == 1 else answers[-1]
            self.send_response(code)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        with pytest.raises(PrometheusError, match=r"'up\{\}': 400 bad_data parse error"):
            Prometheus(url, attempts=2).instant("up{}", 0.0)
        assert len(seen) == 2  # the 502 was retried, the 400 was not
        answers[-1] = (503, b"unavailable")
        with pytest.raises(ServiceUnavailable, match="unreachable after 2 attempts"):
            Prometheus(url, attempts=2).instant("up", 0.0)
    finally:
        server.shutdown()
