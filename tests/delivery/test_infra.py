"""The cluster bootstrap's own objects (infra/services: Redis, PostgreSQL, MinIO, the MLflow
server), validated strictly, restricted, pinned and free of credentials."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from tests.delivery.chart import ROOT, pod_specs
from tests.delivery.test_kustomize import _kustomize

VERSIONS = ROOT / "infra" / "versions.env"


@pytest.fixture(scope="module")
def services() -> list[dict]:
    return _kustomize(ROOT / "infra" / "services")


@pytest.mark.parametrize("kube", ["1.30.0", "1.33.0"])
def test_the_services_validate_strictly(services, kube):
    assert {o["metadata"]["name"] for o in services if o["kind"] == "Deployment"} == {
        "redis",
        "postgres",
        "minio",
        "mlflow",
    }
    for obj in services:
        kubernetes_validate.validate(obj, kube, strict=True)


def test_every_service_pod_is_restricted_and_its_image_pinned(services):
    pods = [spec for obj in services for spec in pod_specs(obj)]
    assert len(pods) == 5
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
            name, _, tag = container["image"].rpartition(":")
            assert name and tag and tag != "latest", container["image"]


def test_credentials_come_from_secrets_only(services):
    text = str(services)
    assert not re.search(r"password=|PASSWORD': '[^$]", text)
    for obj in services:
        assert obj["kind"] != "Secret"


def test_every_platform_version_is_pinned_in_one_file():
    pins = dict(
        line.split("=", 1)
        for line in VERSIONS.read_text().splitlines()
        if line and not line.startswith("#")
    )
    for key in ("CERT_MANAGER", "KNATIVE_SERVING", "KSERVE", "KFP", "KUBERAY_CHART"):
        assert pins[f"{key}_VERSION"], key
    assert pins["KSERVE_VERSION"] == "v0.20.0"
    minor = int(pins["KNATIVE_SERVING_VERSION"].split(".")[1])
    assert minor >= 21, "the alerts need queue-proxy's metric names of Knative >= 1.21"
    scripts = (ROOT / "infra" / "bootstrap.sh").read_text()
    for key in pins:
        if key.endswith("_VERSION") and key != "KIND_NODE_IMAGE":
            assert f"${key}" in scripts or f'"${key}"' in scripts, f"{key} is pinned but unused"


def test_kserve_keeps_the_rollout_annotations_off_revisions():
    """Else each write of the rollout's state would start a new Knative revision."""
    import json

    from components.rollout.state import ANNOTATIONS

    config = json.loads((ROOT / "infra" / "kserve-inferenceservice.json").read_text())
    assert config == {"serviceAnnotationDisallowedList": list(ANNOTATIONS)}
    bootstrap = (ROOT / "infra" / "bootstrap.sh").read_text()
    assert 'kserve_config inferenceService "$(cat "$here/kserve-inferenceservice.json")"' in (
        bootstrap
    )
