"""The adapter uses only the verbs that the chart's `sluice-rollout` Role grants, and
`GRANTS` says which those are.

The real `KubeInferenceServices`, with the real `kubernetes` client, talks to a small
recording server on loopback that answers as the API server does for these requests; each
request is read back into (API group, resource, verb) the way the API server's
RequestInfo does before it asks RBAC, and checked against the Role the chart renders.
"""

from __future__ import annotations

import pytest

from components.rollout.isvc import with_model
from components.rollout.kube import GRANTS, GROUP, PLURAL, Conflict, KubeInferenceServices
from tests.delivery.chart import by_kind, render
from tests.kube_api_server import NAME, TOKEN, ApiServer

NS = "sluice"
URI = "s3://sluice/mlartifacts/1/models/m-1/artifacts"


def role_grants(name: str = "sluice-rollout") -> set[tuple[str, str, str]]:
    """(API group, resource, verb) that the chart's Role allows."""
    (role,) = [r for r in by_kind(render(), "Role") if r["metadata"]["name"] == name]
    grants = set()
    for rule in role["rules"]:
        assert "resourceNames" not in rule  # a create cannot be limited by name
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants |= {(group, resource, verb) for verb in rule["verbs"]}
    return grants


def test_the_adapter_uses_only_what_the_rollout_role_grants(api_server: ApiServer):
    (template,) = by_kind(render(), "InferenceService")
    isvcs = KubeInferenceServices()

    assert isvcs.get(NS, NAME) is None
    created = isvcs.create(NS, with_model(template, NAME, NS, URI, "1"))
    assert created["metadata"]["resourceVersion"] == "1"
    assert isvcs.get(NS, NAME) == created
    stale = created["metadata"]["resourceVersion"]
    patched = isvcs.patch(
        NS,
        NAME,
        {
            "metadata": {"resourceVersion": stale},
            "spec": {"predictor": {"canaryTrafficPercent": 10}},
        },
    )
    assert patched["spec"]["predictor"]["canaryTrafficPercent"] == 10
    with pytest.raises(Conflict):
        isvcs.patch(NS, NAME, {"metadata": {"resourceVersion": stale}})
    isvcs.event(patched, "CanaryStarted", "10% of the traffic to version 1", warning=True)

    requests = api_server.requests
    assert [(r.method, r.path) for r in requests] == [
        ("GET", f"/apis/{GROUP}/v1beta1/namespaces/{NS}/{PLURAL}/{NAME}"),
        ("POST", f"/apis/{GROUP}/v1beta1/namespaces/{NS}/{PLURAL}"),
        ("GET", f"/apis/{GROUP}/v1beta1/namespaces/{NS}/{PLURAL}/{NAME}"),
        ("PATCH", f"/apis/{GROUP}/v1beta1/namespaces/{NS}/{PLURAL}/{NAME}"),
        ("PATCH", f"/apis/{GROUP}/v1beta1/namespaces/{NS}/{PLURAL}/{NAME}"),
        ("POST", f"/api/v1/namespaces/{NS}/events"),
    ]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in requests)
    used = {r.access() for r in requests}
    assert used <= role_grants()
    assert used == {(group, resource, v) for (group, resource), vs in GRANTS.items() for v in vs}
    assert {r.headers["content-type"] for r in requests if r.method == "PATCH"} == {
        "application/merge-patch+json"
    }

    (event,) = [r.body for r in requests if r.path.endswith("/events")]
    assert event["involvedObject"] == {
        "apiVersion": f"{GROUP}/v1beta1",
        "kind": "InferenceService",
        "name": NAME,
        "namespace": NS,
        "uid": created["metadata"]["uid"],
    }
    assert (event["reason"], event["type"]) == ("CanaryStarted", "Warning")
    assert event["message"] == "10% of the traffic to version 1"
    assert event["metadata"]["generateName"] == f"{NAME}."


def test_transient_refusals_are_retried_and_the_rest_named(api_server: ApiServer):
    from components.rollout.kube import KubeError

    isvcs = KubeInferenceServices()
    api_server.refuse_next = [429, 503]
    assert isvcs.get(NS, NAME) is None  # answered on the third try
    assert len(api_server.requests) == 3
    api_server.refuse_next = [403]
    with pytest.raises(KubeError, match=rf"get inferenceservices/{NS}/{NAME}: 403 refused"):
        isvcs.get(NS, NAME)
