"""The rollout's state machine over the faithful KServe fake, with a clock that only moves
when the rollout sleeps and analyses that say what each test needs: resuming after a crash
between any two writes, an idempotent re-run, the refused concurrent rollout, the first
deploy, the deadline, and the abort."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from components.rollout.analysis import Analysis, Outcome
from components.rollout.config import RolloutConfig
from components.rollout.controller import Rollout, RolloutFailed, RolloutRefused
from components.rollout.isvc import MODEL_VERSION_LABEL, Revisions, storage_uri
from components.rollout.state import DECISIONS, LEASE, RolloutState
from tests.delivery.chart import by_kind, render
from tests.kserve_fake import FakeInferenceServices

NS, NAME = "sluice", "sluice-flights"
STABLE_URI, CANARY_URI = "s3://sluice/models/m-1/artifacts", "s3://sluice/models/m-2/artifacts"
CONFIG = RolloutConfig(
    name=NAME,
    namespace=NS,
    interval_s=60,
    query_step_s=15,
    threshold=2,
    deadline_s=900,
    poll_s=5,
    lease_s=30,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Scripted:
    """Analyses in order, the last repeated; records what it was asked."""

    def __init__(self, *outcomes: Outcome):
        self.outcomes, self.asked = list(outcomes), []

    def analyse(self, version: str, start: float, end: float) -> Analysis:
        self.asked.append((version, start, end))
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        return Analysis(outcome, 1.0 if outcome is Outcome.PASS else 0.0, (), 500, 4500)


class Aliases:
    def __init__(self) -> None:
        self.aliases = {"champion": "1"}

    def promote(self, version: str) -> dict:
        moved = {}
        if self.aliases.get("champion") not in (None, version):
            moved["previous"] = self.aliases["champion"]
        moved["champion"] = version
        self.aliases.update(moved)
        return moved


class Crash(Exception):
    pass


class CrashingAfter(FakeInferenceServices):
    """The fake, whose process 'dies' on the write after `writes` successful ones."""

    def __init__(self, writes: int | None = None):
        super().__init__()
        self.writes, self.done = writes, 0

    def patch(self, namespace, name, patch):
        if self.writes is not None and self.done >= self.writes:
            raise Crash(f"crashed before write {self.done + 1}")
        self.done += 1
        return super().patch(namespace, name, patch)


@pytest.fixture(scope="module")
def template() -> dict:
    (isvc,) = by_kind(render(), "InferenceService")
    return isvc


def stable_isvc(template: dict) -> dict:
    body = copy.deepcopy(template)
    body["metadata"]["namespace"] = NS
    predictor = body["spec"]["predictor"]
    predictor.setdefault("labels", {})[MODEL_VERSION_LABEL] = "1"
    for container in predictor["containers"]:
        for env in container.get("env", []):
            if env["name"] == "STORAGE_URI":
                env["value"] = STABLE_URI
    return body


def deployed(template, fake=None) -> FakeInferenceServices:
    fake = fake or FakeInferenceServices()
    fake.create(NS, stable_isvc(template))
    return fake


def rollout(fake, analyst, clock, aliases=None, config=CONFIG, holder=None) -> Rollout:
    return Rollout(
        config,
        fake,
        analyst,
        aliases or Aliases(),
        clock=clock,
        sleep=clock.sleep,
        holder=holder,
    )


def annotations(fake) -> dict:
    return fake.get(NS, NAME)["metadata"]["annotations"]


def serving_uris(fake) -> set[str]:
    """The models that get traffic, by what each revision holding a share serves."""
    return {
        storage_uri({"spec": {"predictor": fake.revision_spec(revision)}})
        for revision, share in fake.traffic(NS, NAME)
        if share > 0
    }


def test_a_passing_canary_steps_through_and_is_promoted(template):
    fake, clock, aliases = deployed(template), Clock(), Aliases()
    analyst = Scripted(Outcome.PASS)
    result = rollout(fake, analyst, clock, aliases).run("2", CANARY_URI)
    assert result.result == "promoted"
    isvc = fake.get(NS, NAME)
    assert storage_uri(isvc) == CANARY_URI
    assert isvc["spec"]["predictor"]["labels"][MODEL_VERSION_LABEL] == "2"
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert Revisions.of(isvc).latest_percent() == 100
    assert aliases.aliases == {"champion": "2", "previous": "1"}
    # each analysed step waited its interval on traffic already at that share
    assert [round(end - start) for _, start, end in analyst.asked] == [60, 60, 60]
    passed = [d for d in result.decisions if d["action"] == "passed"]
    assert [d["percent"] for d in passed] == [10, 25, 50]
    assert LEASE not in annotations(fake)  # released
    assert RolloutState.from_annotations(annotations(fake)).phase == "promoted"
    assert [e["reason"] for e in fake.events][-1] == "RolloutPromoted"


def test_failing_checks_roll_back_at_the_threshold_and_keep_the_aliases(template):
    fake, clock, aliases = deployed(template), Clock(), Aliases()
    result = rollout(fake, Scripted(Outcome.FAIL), clock, aliases).run("2", CANARY_URI)
    assert result.result == "rolled-back"
    isvc = fake.get(NS, NAME)
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert storage_uri(isvc) == STABLE_URI
    assert isvc["spec"]["predictor"]["labels"][MODEL_VERSION_LABEL] == "1"
    assert Revisions.of(isvc).latest_percent() == 0
    assert serving_uris(fake) == {STABLE_URI}
    assert aliases.aliases == {"champion": "1"}
    actions = [d["action"] for d in result.decisions]
    assert actions == ["started", "failed-check", "failed-check", "rolled-back"]
    assert clock.now - 1_000_000.0 <= CONFIG.rollback_bound_s + 3 * CONFIG.poll_s
    assert any(e["type"] == "Warning" for e in fake.events)


def test_one_failure_below_the_threshold_does_not_roll_back(template):
    fake, clock = deployed(template), Clock()
    analyst = Scripted(Outcome.FAIL, Outcome.PASS, Outcome.PASS, Outcome.PASS)
    result = rollout(fake, analyst, clock).run("2", CANARY_URI)
    assert result.result == "promoted"
    assert [d["action"] for d in result.decisions].count("failed-check") == 1


def test_inconclusive_analyses_wait_until_the_deadline_then_roll_back(template):
    fake, clock = deployed(template), Clock()
    config = replace(CONFIG, deadline_s=200)
    result = rollout(fake, Scripted(Outcome.INCONCLUSIVE), clock, config=config).run(
        "2", CANARY_URI
    )
    assert result.result == "rolled-back" and "deadline" in result.reason
    actions = [d["action"] for d in result.decisions]
    assert actions.count("inconclusive") == 4  # at 60, 120, 180 s; past 200 s at 240
    assert "failed-check" not in actions


def test_a_rerun_after_success_changes_nothing(template):
    fake, clock, aliases = deployed(template), Clock(), Aliases()
    rollout(fake, Scripted(Outcome.PASS), clock, aliases).run("2", CANARY_URI)
    before = fake.get(NS, NAME)
    again = rollout(fake, Scripted(Outcome.FAIL), clock, aliases).run("2", CANARY_URI)
    after = fake.get(NS, NAME)
    assert again.result == "unchanged"
    assert (
        after["spec"] == before["spec"]
        and after["metadata"]["generation"] == before["metadata"]["generation"]
    )
    assert aliases.aliases == {"champion": "2", "previous": "1"}


def _clean_run_writes(template) -> int:
    fake, clock = deployed(template, CrashingAfter()), Clock()
    rollout(fake, Scripted(Outcome.PASS), clock).run("2", CANARY_URI)
    return fake.done


@pytest.mark.parametrize("outcome", [Outcome.PASS, Outcome.FAIL])
def test_a_rollout_resumes_after_a_crash_between_any_two_writes(template, outcome):
    clean = deployed(template, CrashingAfter())
    expected = rollout(clean, Scripted(outcome), Clock()).run("2", CANARY_URI)
    for writes in range(1, clean.done):
        fake, clock, aliases = deployed(template, CrashingAfter(writes)), Clock(), Aliases()
        with pytest.raises(Crash):
            rollout(fake, Scripted(outcome), clock, aliases, holder="first").run("2", CANARY_URI)
        fake.writes = None
        # the crashed rollout's lease is still fresh: a second one refuses, naming it
        if LEASE in annotations(fake):
            with pytest.raises(RolloutRefused, match="first"):
                rollout(fake, Scripted(outcome), clock, aliases, holder="second").run(
                    "2", CANARY_URI
                )
            clock.sleep(CONFIG.lease_s + 1)  # silence: the lease expires
        result = rollout(fake, Scripted(outcome), clock, aliases, holder="second").run(
            "2", CANARY_URI
        )
        assert result.result == expected.result, f"crash after {writes} writes"
        final = fake.get(NS, NAME)
        assert storage_uri(final) == (CANARY_URI if outcome is Outcome.PASS else STABLE_URI)
        assert serving_uris(fake) == {storage_uri(final)}
        want = {"champion": "2", "previous": "1"} if outcome is Outcome.PASS else {"champion": "1"}
        assert aliases.aliases == want
        assert LEASE not in final["metadata"]["annotations"]


def test_a_concurrent_rollout_is_refused_naming_the_first(template):
    fake, clock = deployed(template, CrashingAfter(2)), Clock()
    with pytest.raises(Crash):  # the first holds the lease, mid-way
        rollout(fake, Scripted(Outcome.PASS), clock, holder="ci-runner/42").run("2", CANARY_URI)
    fake.writes = None  # at once: its lease is fresh
    with pytest.raises(RolloutRefused, match=r"ci-runner/42.*version 2"):
        rollout(fake, Scripted(Outcome.PASS), clock, holder="laptop/7").run("3", CANARY_URI)


def test_another_version_waits_for_an_unfinished_rollout(template):
    fake, clock = deployed(template, CrashingAfter(2)), Clock()
    with pytest.raises(Crash):
        rollout(fake, Scripted(Outcome.PASS), clock, holder="a").run("2", CANARY_URI)
    fake.writes = None
    clock.sleep(CONFIG.lease_s + 1)
    with pytest.raises(RolloutRefused, match=r"version 2 is unfinished.*--abort"):
        rollout(fake, Scripted(Outcome.PASS), clock, holder="b").run("3", "s3://x/m-3")


def test_abort_rolls_back_and_stops_the_running_rollout(template):
    fake, clock, aliases = deployed(template, CrashingAfter(3)), Clock(), Aliases()
    with pytest.raises(Crash):
        rollout(fake, Scripted(Outcome.PASS), clock, aliases, holder="a").run("2", CANARY_URI)
    fake.writes = None
    result = rollout(fake, Scripted(Outcome.PASS), clock, aliases, holder="op").abort()
    assert result.result == "rolled-back" and result.reason == "aborted by hand"
    assert storage_uri(fake.get(NS, NAME)) == STABLE_URI
    assert serving_uris(fake) == {STABLE_URI}
    assert aliases.aliases == {"champion": "1"}
    with pytest.raises(RolloutFailed, match="no unfinished rollout"):
        rollout(fake, Scripted(Outcome.PASS), clock, holder="op").abort()


def test_a_first_deploy_creates_the_service_at_full_traffic(template):
    fake, clock, aliases = FakeInferenceServices(), Clock(), Aliases()
    aliases.aliases = {}
    body = copy.deepcopy(template)
    result = rollout(fake, Scripted(Outcome.FAIL), clock, aliases).run("1", STABLE_URI, body)
    assert result.result == "deployed"
    isvc = fake.get(NS, NAME)
    assert storage_uri(isvc) == STABLE_URI and Revisions.of(isvc).latest_percent() == 100
    assert aliases.aliases == {"champion": "1"}
    with pytest.raises(RolloutFailed, match="no such InferenceService"):
        rollout(FakeInferenceServices(), Scripted(Outcome.PASS), clock).run("1", STABLE_URI)


def test_a_canary_that_never_becomes_ready_is_rolled_back(template):
    fake, clock = deployed(template), Clock()
    fake.hold_readiness = True
    config = replace(CONFIG, ready_timeout_s=30)
    analyst = Scripted(Outcome.PASS)
    result = rollout(fake, analyst, clock, config=config).run("2", CANARY_URI)
    assert result.result == "rolled-back" and "not ready" in result.reason
    assert analyst.asked == []  # nothing judged on a revision that never served
    assert DECISIONS in annotations(fake)


def test_an_error_mid_rollout_releases_the_lease_and_the_next_run_resumes_at_once(template):
    class Broken(Scripted):
        def analyse(self, version, start, end):
            raise RuntimeError("the analyst broke")

    fake, clock, aliases = deployed(template), Clock(), Aliases()
    with pytest.raises(RuntimeError, match="analyst broke"):
        rollout(fake, Broken(Outcome.PASS), clock, aliases, holder="a").run("2", CANARY_URI)
    assert LEASE not in annotations(fake)
    assert RolloutState.from_annotations(annotations(fake)).phase == "progressing"
    result = rollout(fake, Scripted(Outcome.PASS), clock, aliases, holder="b").run("2", CANARY_URI)
    assert result.result == "promoted"


def test_an_abort_after_the_canary_took_all_traffic_brings_the_stable_model_back(template):
    class RegistryDown(Aliases):
        def promote(self, version):
            raise ConnectionError("MLflow is down")

    fake, clock = deployed(template), Clock()
    with pytest.raises(ConnectionError):
        rollout(fake, Scripted(Outcome.PASS), clock, RegistryDown(), holder="a").run(
            "2", CANARY_URI
        )
    assert RolloutState.from_annotations(annotations(fake)).phase == "promoting"
    assert serving_uris(fake) == {CANARY_URI}  # KServe has rolled the canary out
    aliases = Aliases()
    result = rollout(fake, Scripted(Outcome.PASS), clock, aliases, holder="op").abort()
    assert result.result == "rolled-back"
    isvc = fake.get(NS, NAME)
    assert storage_uri(isvc) == STABLE_URI
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert serving_uris(fake) == {STABLE_URI}
    assert aliases.aliases == {"champion": "1"}


def test_a_rolled_back_version_is_tried_again_only_when_asked(template):
    fake, clock = deployed(template), Clock()
    rollout(fake, Scripted(Outcome.FAIL), clock).run("2", CANARY_URI)
    again = rollout(fake, Scripted(Outcome.PASS), clock).run("2", CANARY_URI)
    assert again.result == "unchanged" and "--retry" in again.reason
    assert storage_uri(fake.get(NS, NAME)) == STABLE_URI
    retried = Rollout(
        CONFIG, fake, Scripted(Outcome.PASS), Aliases(), clock=clock, sleep=clock.sleep, retry=True
    ).run("2", CANARY_URI)
    assert retried.result == "promoted"
    assert serving_uris(fake) == {CANARY_URI}
