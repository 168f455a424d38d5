"""The KServe fake behaves as KServe does in Knative mode (see tests/kserve_fake.py for the
sources), on the chart's own InferenceService."""

from __future__ import annotations

import copy
import threading

import pytest

from components.rollout.isvc import Revisions, model_patch, storage_uri
from components.rollout.kube import Conflict
from tests.delivery.chart import STORAGE_URI, by_kind, render
from tests.kserve_fake import (
    AlreadyExists,
    BadRequest,
    FakeInferenceServices,
    Invalid,
    NotFound,
    merge_patch,
    validators,
)

NS, NAME = "sluice", "sluice-flights"
R1, R2, R3 = (f"{NAME}-predictor-{n:05d}" for n in (1, 2, 3))
NEW_URI = "s3://sluice/mlartifacts/1/models/m-1/artifacts"


@pytest.fixture(scope="module")
def chart_isvc() -> dict:
    (isvc,) = by_kind(render(), "InferenceService")
    isvc["metadata"]["namespace"] = NS
    return isvc


@pytest.fixture
def template(chart_isvc: dict) -> dict:
    return copy.deepcopy(chart_isvc)


@pytest.fixture
def fake() -> FakeInferenceServices:
    return FakeInferenceServices()


def predictor(fake: FakeInferenceServices) -> dict:
    return fake.get(NS, NAME)["status"]["components"]["predictor"]


def ready(fake: FakeInferenceServices) -> dict:
    (condition,) = [c for c in fake.get(NS, NAME)["status"]["conditions"] if c["type"] == "Ready"]
    return condition


def canary(fake: FakeInferenceServices, percent: int | None, uri: str = NEW_URI) -> dict:
    """The rollout's step: serve `uri` as a new version with `percent` of the traffic."""
    change = model_patch(fake.get(NS, NAME), uri, "2")
    return fake.patch(
        NS, NAME, {"spec": {"predictor": {**change, "canaryTrafficPercent": percent}}}
    )


def test_a_new_inference_service_serves_its_first_revision(fake, template):
    assert fake.get(NS, NAME) is None
    written = fake.create(NS, template)
    assert "status" not in written  # the API server answers before KServe acts
    assert written["metadata"]["generation"] == 1
    assert isinstance(written["metadata"]["resourceVersion"], str)
    assert written["metadata"]["uid"] and written["metadata"]["creationTimestamp"]

    isvc = fake.get(NS, NAME)
    assert predictor(fake) == {
        "latestCreatedRevision": R1,
        "latestReadyRevision": R1,
        "latestRolledoutRevision": R1,
        "traffic": [
            {
                "revisionName": R1,
                "latestRevision": True,
                "percent": 100,
                "tag": "latest",
                "url": f"http://latest-{NAME}-predictor.{NS}.example.com",
            }
        ],
        "url": f"http://{NAME}-predictor.{NS}.example.com",
        "address": {"url": f"http://{NAME}-predictor.{NS}.svc.cluster.local"},
    }
    assert ready(fake)["status"] == "True"
    assert isvc["status"]["url"] == f"http://{NAME}.{NS}.example.com"
    assert isvc["status"]["observedGeneration"] == 1
    assert int(isvc["metadata"]["resourceVersion"]) > int(written["metadata"]["resourceVersion"])
    validators()[0].validate(isvc)  # the CRD, strict, status included
    assert fake.traffic(NS, NAME) == [(R1, 100)]
    assert fake.revision_spec(R1) == template["spec"]["predictor"]
    assert Revisions.of(isvc).settled(100)

    with pytest.raises(AlreadyExists) as refused:
        fake.create(NS, template)
    assert refused.value.status == 409
    assert fake.calls == [
        ("get", NS, NAME),
        ("create", NS, NAME),
        ("get", NS, NAME),
        ("get", NS, NAME),
        ("get", NS, NAME),
        ("create", NS, NAME),
    ]


def test_a_canary_shares_traffic_with_the_rolled_out_revision(fake, template):
    fake.create(NS, template)
    canary(fake, 10)

    isvc = fake.get(NS, NAME)
    assert isvc["metadata"]["generation"] == 2
    status = predictor(fake)
    assert (status["latestCreatedRevision"], status["latestReadyRevision"]) == (R2, R2)
    assert status["latestRolledoutRevision"] == R1
    assert "previousRolledoutRevision" not in status
    assert [
        (t["revisionName"], t["latestRevision"], t["percent"], t["tag"]) for t in status["traffic"]
    ] == [
        (R2, True, 10, "latest"),
        (R1, False, 90, "prev"),
    ]
    assert fake.traffic(NS, NAME) == [(R2, 10), (R1, 90)]
    assert storage_uri({"spec": {"predictor": fake.revision_spec(R2)}}) == NEW_URI
    assert storage_uri({"spec": {"predictor": fake.revision_spec(R1)}}) == STORAGE_URI
    assert "canaryTrafficPercent" not in fake.revision_spec(R2)


def test_tags_follow_kserve_without_tag_routing(fake, template):
    """KServe tags `latest` only with the annotation, and `prev` always."""
    del template["metadata"]["annotations"]["serving.kserve.io/enable-tag-routing"]
    fake.create(NS, template)
    assert "tag" not in predictor(fake)["traffic"][0]
    canary(fake, 25)
    assert [t.get("tag") for t in predictor(fake)["traffic"]] == [None, "prev"]
    assert fake.traffic(NS, NAME) == [(R2, 25), (R1, 75)]


def test_changing_only_the_percent_makes_no_new_revision(fake, template):
    fake.create(NS, template)
    canary(fake, 10)
    fake.patch(NS, NAME, {"spec": {"predictor": {"canaryTrafficPercent": 50}}})

    assert fake.get(NS, NAME)["metadata"]["generation"] == 3
    assert predictor(fake)["latestCreatedRevision"] == R2
    assert [r.name for r in fake.revisions(NS, NAME)] == [R1, R2]
    assert fake.traffic(NS, NAME) == [(R2, 50), (R1, 50)]


def test_promotion_rolls_the_canary_out(fake, template):
    fake.create(NS, template)
    canary(fake, 10)
    fake.patch(NS, NAME, {"spec": {"predictor": {"canaryTrafficPercent": None}}})

    status = predictor(fake)
    assert "canaryTrafficPercent" not in fake.get(NS, NAME)["spec"]["predictor"]
    assert status["latestRolledoutRevision"] == R2
    assert status["previousRolledoutRevision"] == R1
    assert [(t["revisionName"], t["latestRevision"], t["percent"]) for t in status["traffic"]] == [
        (R2, True, 100)
    ]
    assert fake.traffic(NS, NAME) == [(R2, 100)]


def test_a_canary_at_zero_sends_all_traffic_back(fake, template):
    fake.create(NS, template)
    canary(fake, 10)
    fake.patch(NS, NAME, {"spec": {"predictor": {"canaryTrafficPercent": 0}}})

    assert fake.traffic(NS, NAME) == [(R2, 0), (R1, 100)]
    assert predictor(fake)["latestRolledoutRevision"] == R1
    assert predictor(fake)["latestReadyRevision"] == R2


def test_zero_after_promotion_pins_the_previous_revision(fake, template):
    """KServe's documented rollback: with the new revision rolled out, canaryTrafficPercent
    0 brings the previous rolled-out revision back (PropagateStatus' rollback branch)."""
    fake.create(NS, template)
    canary(fake, 10)
    fake.patch(NS, NAME, {"spec": {"predictor": {"canaryTrafficPercent": None}}})
    fake.patch(NS, NAME, {"spec": {"predictor": {"canaryTrafficPercent": 0}}})

    assert fake.traffic(NS, NAME) == [(R2, 0), (R1, 100)]
    assert predictor(fake)["latestRolledoutRevision"] == R1


def test_a_held_revision_gets_no_traffic_until_it_is_ready(fake, template):
    fake.create(NS, template)
    fake.hold_readiness = True
    canary(fake, 10)

    isvc = fake.get(NS, NAME)
    status = isvc["status"]["components"]["predictor"]
    assert (status["latestCreatedRevision"], status["latestReadyRevision"]) == (R2, R1)
    assert fake.traffic(NS, NAME) == [(R1, 100)]  # Knative sends the latest's share to R1
    assert ready(fake)["status"] == "Unknown"
    assert not Revisions.of(isvc).settled(10)
    assert [(r.name, r.state) for r in fake.revisions(NS, NAME)] == [(R1, "ready"), (R2, "pending")]

    assert fake.release(NS, NAME) == [R2]
    after = fake.get(NS, NAME)
    assert int(after["metadata"]["resourceVersion"]) > int(isvc["metadata"]["resourceVersion"])
    assert predictor(fake)["latestReadyRevision"] == R2
    assert fake.traffic(NS, NAME) == [(R2, 10), (R1, 90)]
    assert ready(fake)["status"] == "True"


def test_a_canary_that_never_comes_up(fake, template):
    fake.create(NS, template)
    fake.fail_when = lambda component, spec: "model not found" if NEW_URI in str(spec) else None
    canary(fake, 10)

    status = predictor(fake)
    assert (status["latestCreatedRevision"], status["latestReadyRevision"]) == (R2, R1)
    assert fake.traffic(NS, NAME) == [(R1, 100)]
    assert ready(fake)["status"] == "False"
    assert ready(fake)["reason"] == "RevisionFailed"
    assert R2 in ready(fake)["message"] and "model not found" in ready(fake)["message"]

    fake.fail_when = None
    fake.hold_readiness = True
    canary(fake, 10, uri=NEW_URI + "-fixed")
    assert fake.release(NS, NAME, fail="exit code 1") == [R3]
    assert "exit code 1" in ready(fake)["message"]
    assert fake.traffic(NS, NAME) == [(R1, 100)]


def test_a_stale_resource_version_conflicts_and_changes_nothing(fake, template):
    fake.create(NS, template)
    seen = fake.get(NS, NAME)
    version = seen["metadata"]["resourceVersion"]
    written = fake.patch(
        NS,
        NAME,
        {"metadata": {"resourceVersion": version}, "spec": {"predictor": {"minReplicas": 2}}},
    )
    assert written["metadata"]["resourceVersion"] != version  # a new one, not the patch's
    current = fake.get(NS, NAME)

    with pytest.raises(Conflict):
        fake.patch(
            NS,
            NAME,
            {"metadata": {"resourceVersion": version}, "spec": {"predictor": {"minReplicas": 3}}},
        )
    assert fake.get(NS, NAME) == current
    assert current["spec"]["predictor"]["minReplicas"] == 2
    # KServe's status write after the patch moved the version on again
    with pytest.raises(Conflict):
        fake.patch(
            NS, NAME, {"metadata": {"resourceVersion": written["metadata"]["resourceVersion"]}}
        )
    with pytest.raises(NotFound):
        fake.patch(NS, "absent", {"spec": {}})


@pytest.mark.parametrize(
    ("predictor_change", "refusal", "words"),
    [
        ({"canaryTrafficPercent": "ten"}, Invalid, "spec.predictor.canaryTrafficPercent"),
        ({"minReplicas": 1.5}, Invalid, "spec.predictor.minReplicas"),
        (
            {"canaryTrafficPecent": 10},
            BadRequest,
            'unknown field "spec.predictor.canaryTrafficPecent"',
        ),
    ],
)
def test_an_object_the_crd_refuses_is_not_stored(fake, template, predictor_change, refusal, words):
    fake.create(NS, template)
    before = fake.get(NS, NAME)
    with pytest.raises(refusal) as refused:
        fake.patch(NS, NAME, {"spec": {"predictor": predictor_change}})
    assert words in refused.value.message
    assert refused.value.status == {Invalid: 422, BadRequest: 400}[refusal]
    assert fake.get(NS, NAME) == before

    other = copy.deepcopy(template)
    other["metadata"]["name"] = "other"
    other["spec"]["predictor"].update(predictor_change)
    with pytest.raises(refusal):
        fake.create(NS, other)
    assert fake.get(NS, "other") is None


def test_generation_moves_with_the_spec_only(fake, template):
    fake.create(NS, template)
    first = fake.get(NS, NAME)
    same = fake.patch(NS, NAME, {"spec": {"predictor": {"minReplicas": 1}}})  # already 1
    assert same["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    fake.patch(NS, NAME, {"metadata": {"annotations": {"sluice.io/note": "x"}}})
    annotated = fake.get(NS, NAME)
    assert annotated["metadata"]["generation"] == 1
    assert int(annotated["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    # KServe copies the InferenceService's annotations onto the revision template
    assert predictor(fake)["latestCreatedRevision"] == R2

    fake.patch(NS, NAME, {"spec": {"predictor": {"maxReplicas": 3}}})
    assert fake.get(NS, NAME)["metadata"]["generation"] == 2


@pytest.mark.parametrize(
    ("disallowed", "revision"), [(None, "sluice-flights-predictor-00001"), ((), R2)]
)
def test_the_rollout_annotations_make_a_revision_unless_kserve_keeps_them_off(
    template, disallowed, revision
):
    """As bootstrapped (infra/kserve-inferenceservice.json), KServe keeps the rollout's
    annotations off revisions; as installed, each write would start a new revision."""
    from components.rollout.state import STATE

    fake = FakeInferenceServices() if disallowed is None else FakeInferenceServices(disallowed)
    fake.create(NS, template)
    fake.patch(NS, NAME, {"metadata": {"annotations": {STATE: "{}"}}})
    assert predictor(fake)["latestCreatedRevision"] == revision


def test_observed_generation_is_the_last_knative_services(fake, template):
    """KServe copies the Knative Service's observedGeneration: with a transformer, its
    Knative Service's, which a predictor change does not move."""
    fake.create(NS, template)
    canary(fake, 10)
    isvc = fake.get(NS, NAME)
    assert (isvc["metadata"]["generation"], isvc["status"]["observedGeneration"]) == (2, 1)

    alone = copy.deepcopy(template)
    alone["metadata"]["name"] = "alone"
    del alone["spec"]["transformer"]
    fake.create(NS, alone)
    fake.patch(NS, "alone", {"spec": {"predictor": {"canaryTrafficPercent": 10, "minReplicas": 2}}})
    fake.patch(NS, "alone", {"spec": {"predictor": {"canaryTrafficPercent": None}}})
    fake.patch(NS, "alone", {"spec": {"predictor": {"canaryTrafficPercent": 0}}})
    isvc = fake.get(NS, "alone")
    # the rollback took KServe two passes over the Knative Service's traffic
    assert (isvc["metadata"]["generation"], isvc["status"]["observedGeneration"]) == (4, 5)


def test_a_percent_knative_refuses_fails_the_predictor(fake, template):
    fake.create(NS, template)
    canary(fake, 150)
    (condition,) = [
        c for c in fake.get(NS, NAME)["status"]["conditions"] if c["type"] == "PredictorReady"
    ]
    assert (condition["status"], condition["reason"]) == ("False", "ReconcileFailed")
    assert ready(fake)["status"] == "False"
    assert predictor(fake)["latestCreatedRevision"] == R1
    assert fake.traffic(NS, NAME) == [(R1, 100)]


def test_events_are_recorded_about_objects_that_exist(fake, template):
    fake.create(NS, template)
    isvc = fake.get(NS, NAME)
    fake.event(isvc, "CanaryStarted", "10% to version 2")
    fake.event(isvc, "RolledBack", "x" * 2000, warning=True)
    assert [(e["reason"], e["type"], len(e["message"])) for e in fake.events] == [
        ("CanaryStarted", "Normal", 16),
        ("RolledBack", "Warning", 1024),
    ]
    assert fake.events[0]["involvedObject"] == {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "name": NAME,
        "namespace": NS,
        "uid": isvc["metadata"]["uid"],
    }
    with pytest.raises(AssertionError):
        fake.event({"metadata": {"namespace": NS, "name": "absent"}}, "X", "y")


def test_traffic_can_be_read_while_a_rollout_patches(fake, template):
    fake.create(NS, template)
    canary(fake, 10)
    seen, stop = [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(sum(percent for _, percent in fake.traffic(NS, NAME)))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for percent in range(10, 100, 5):
            fake.patch(NS, NAME, {"spec": {"predictor": {"canaryTrafficPercent": percent}}})
    finally:
        stop.set()
        reader.join()
    assert seen and set(seen) == {100}
    assert fake.traffic(NS, NAME) == [(R2, 95), (R1, 5)]


@pytest.mark.parametrize(
    ("target", "patch", "result"),
    [  # RFC 7386, Appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7386(target, patch, result):
    assert merge_patch(target, patch) == result
