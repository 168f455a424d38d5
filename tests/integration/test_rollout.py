"""Canary rollouts end to end: real model servers, a real Prometheus scraping them every
second, a traffic splitter in Knative's place, and the faithful KServe fake in the
Kubernetes API's (tests/rollout_harness.py). Each scenario runs with short intervals."""

import json

import pytest

from components.rollout.analysis import LATENCY_P99, SCORE_PSI, SUCCESS_RATE
from components.rollout.isvc import MODEL_VERSION_LABEL, Revisions, storage_uri
from components.rollout.state import DECISIONS, RolloutState
from tests.conftest import frame_features
from tests.delivery.chart import by_kind, render
from tests.rollout_harness import NAME, NAMESPACE, SHORT, Harness

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness(slice_training_frame, model_dir, tmp_path_factory):
    """Every version served, Prometheus scraping; `template`: the chart's InferenceService."""
    with Harness(
        slice_training_frame,
        frame_features(slice_training_frame),
        model_dir,
        tmp_path_factory.mktemp("rollout"),
    ) as running:
        (running.template,) = by_kind(render(), "InferenceService")
        yield running


def _final(outcome) -> dict:
    isvc = outcome.fake.get(NAMESPACE, NAME)
    annotations = isvc["metadata"]["annotations"]
    return {
        "isvc": isvc,
        "state": RolloutState.from_annotations(annotations),
        "decisions": json.loads(annotations[DECISIONS]),
        "metrics": (outcome.record / "rollout.prom").read_text(),
    }


def _checks(decision: dict) -> dict[str, str]:
    return {c["metric"]: c["outcome"] for c in decision["analysis"]["checks"]}


def _metric(text: str, name: str, **labels) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"{name}{labels} not in the record")


def _assert_rolled_back(harness, scenario: str, failing: str) -> list[dict]:
    outcome = harness.rollout(scenario, harness.template)
    canary, stable = harness.served[scenario], harness.served["stable"]
    final = _final(outcome)
    assert outcome.result.result == "rolled-back", outcome.result.reason
    assert outcome.seconds <= SHORT.rollback_bound_s + 10
    # traffic back on the stable version, its model restored in the spec
    predictor = final["isvc"]["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 0
    assert storage_uri(final["isvc"]) == stable.uri
    assert predictor["labels"][MODEL_VERSION_LABEL] == stable.version
    assert Revisions.of(final["isvc"]).latest_percent() == 0
    shares = outcome.fake.traffic(NAMESPACE, NAME)
    serving = {
        storage_uri({"spec": {"predictor": outcome.fake.revision_spec(revision)}})
        for revision, share in shares
        if share > 0
    }
    assert serving == {stable.uri}  # what the splitter now routes every request to
    assert outcome.routed[canary.uri] > 0  # the canary did serve before it was judged
    # the decision record: annotations, metrics, Events; the aliases untouched
    assert final["state"].phase == "rolled-back" and final["state"].version == canary.version
    failed = [d for d in final["decisions"] if d["action"] == "failed-check"]
    assert len(failed) == SHORT.threshold
    assert all(_checks(d)[failing] == "fail" for d in failed)
    assert final["decisions"][-1]["action"] == "rolled-back"
    assert _metric(final["metrics"], "sluice_rollout_step", model_version=canary.version) == 0
    result = {"model_version": canary.version, "result": "rolled-back"}
    assert _metric(final["metrics"], "sluice_rollout_result", **result) == 1
    assert any(e["reason"] == "RolloutRolledBack" for e in outcome.fake.events)
    assert outcome.aliases_after == outcome.aliases_before
    return failed, outcome


@pytest.fixture
def served(harness):
    return {name: s.version for name, s in harness.served.items()}


def test_a_good_canary_is_promoted_through_every_step(harness, served):
    outcome = harness.rollout("good", harness.template)
    final = _final(outcome)
    assert outcome.result.result == "promoted", outcome.result.reason
    assert outcome.seconds <= SHORT.promotion_bound_s + 10
    passed = [d for d in final["decisions"] if d["action"] == "passed"]
    assert [d["percent"] for d in passed] == list(SHORT.analysed_steps)
    assert all(set(_checks(d).values()) == {"pass"} for d in passed)
    assert all(d["analysis"]["canary_requests"] >= SHORT.limits.min_requests for d in passed)
    predictor = final["isvc"]["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert storage_uri(final["isvc"]) == harness.served["good"].uri
    revisions = Revisions.of(final["isvc"])
    assert revisions.latest_percent() == 100 and revisions.previous_rolled_out is not None
    assert final["state"].phase == "promoted"
    assert outcome.aliases_after == {"champion": served["good"], "previous": served["stable"]}
    labels = {"model_version": served["good"]}
    assert _metric(final["metrics"], "sluice_rollout_step", **labels) == 100
    assert _metric(final["metrics"], "sluice_rollout_result", result="promoted", **labels) == 1
    report = (outcome.record / "rollout.html").read_text()
    assert "promoted" in report and "data:image/png;base64," in report


def test_a_canary_answering_errors_is_rolled_back_at_the_first_step(harness):
    failed, outcome = _assert_rolled_back(harness, "errors", SUCCESS_RATE)
    assert {d["percent"] for d in failed} == {SHORT.steps[0]}
    assert outcome.answers[400] > 0 and outcome.answers[200] > 0


def test_a_slow_canary_is_rolled_back(harness):
    failed, _ = _assert_rolled_back(harness, "slow", LATENCY_P99)
    assert all(_checks(d)[SUCCESS_RATE] == _checks(d)[SCORE_PSI] == "pass" for d in failed)
    p99 = [c for d in failed for c in d["analysis"]["checks"] if c["metric"] == LATENCY_P99]
    assert all(c["canary"] > 2 * c["stable"] for c in p99)


def test_a_canary_whose_scores_shift_is_rolled_back(harness):
    failed, _ = _assert_rolled_back(harness, "shifted", SCORE_PSI)
    checks = [c for d in failed for c in d["analysis"]["checks"] if c["metric"] == SCORE_PSI]
    assert all(c["effect"] > SHORT.limits.max_psi for c in checks)
    assert all(_checks(d)[SUCCESS_RATE] == _checks(d)[LATENCY_P99] == "pass" for d in failed)


def test_the_model_servers_report_what_the_rollout_reads(harness):
    """The series the analysis queries exist with the labels it selects by."""
    import httpx

    stable = harness.served["stable"]
    query = f'sluice_requests_total{{model_version="{stable.version}", namespace="{NAMESPACE}"}}'
    answer = httpx.get(f"{harness.prometheus}/api/v1/query", params={"query": query}).json()
    assert answer["status"] == "success" and answer["data"]["result"]
