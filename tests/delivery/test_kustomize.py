"""The kustomize base is the chart's defaults, object by object, and both overlays render
valid objects that differ from the chart only where they say so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.delivery.chart import CRD_FILES, ROOT, crd_schema, generator, strict_crd
from tests.services import missing

MANIFESTS = ROOT / "manifests"
OVERLAY_NAMESPACES = {"dev": "sluice-dev", "prod": "sluice"}
PATCHED = {
    "dev": {("InferenceService", "sluice-flights")}
    | {("RoleBinding", "sluice-rollout"), ("RoleBinding", "sluice-serving")},
    "prod": {("InferenceService", "sluice-flights")},
}


def _kustomize(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        missing("kubectl (with its built-in kustomize) is not installed")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _key(obj: dict) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _chart_as_applied_by_kubectl() -> dict[tuple[str, str], dict]:
    render = generator()
    objects = {}
    for obj in render.chart_objects():
        obj = render.without_helm_labels(obj)
        obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "kustomize"
        objects[_key(obj)] = obj
    return objects


def test_the_committed_base_is_a_fresh_render_of_the_chart():
    """`make manifests` writes it; editing the chart without it fails here."""
    fresh = generator().base_files()
    committed = {p.name: p.read_text() for p in (MANIFESTS / "base").glob("*.yaml")}
    assert committed == fresh


def test_the_base_is_the_chart_object_by_object():
    base = {_key(o): o for o in _kustomize(MANIFESTS / "base")}
    assert base == _chart_as_applied_by_kubectl()


@pytest.mark.parametrize("overlay", list(OVERLAY_NAMESPACES))
def test_an_overlay_renders_valid_objects_that_differ_only_where_patched(overlay):
    objects = _kustomize(MANIFESTS / "overlays" / overlay)
    chart = _chart_as_applied_by_kubectl()
    assert {_key(o) for o in objects} == set(chart)
    for obj in objects:
        assert obj["metadata"]["namespace"] == OVERLAY_NAMESPACES[overlay]
        if obj["kind"] not in CRD_FILES:
            for kube in ("1.30.0", "1.33.0"):
                kubernetes_validate.validate(obj, kube, strict=True)
        unplaced = {
            **obj,
            "metadata": {k: v for k, v in obj["metadata"].items() if k != "namespace"},
        }
        if _key(obj) not in PATCHED[overlay]:
            assert unplaced == chart[_key(obj)], _key(obj)
        else:
            assert unplaced != chart[_key(obj)], f"{_key(obj)}: the patch changed nothing"
    for binding in (o for o in objects if o["kind"] == "RoleBinding"):
        assert binding["subjects"][0]["namespace"] == OVERLAY_NAMESPACES[overlay]


@pytest.mark.parametrize("overlay", list(OVERLAY_NAMESPACES))
def test_an_overlays_custom_resources_validate_against_their_crds(overlay):
    custom = [o for o in _kustomize(MANIFESTS / "overlays" / overlay) if o["kind"] in CRD_FILES]
    assert custom
    for obj in custom:
        jsonschema.Draft7Validator(strict_crd(crd_schema(obj["kind"]))).validate(obj)


@pytest.mark.parametrize("overlay", list(OVERLAY_NAMESPACES))
def test_an_overlays_logger_reaches_the_drift_service_in_its_own_namespace(overlay):
    objects = _kustomize(MANIFESTS / "overlays" / overlay)
    (isvc,) = [o for o in objects if o["kind"] == "InferenceService"]
    (drift,) = [
        o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "sluice-drift"
    ]
    namespace = drift["metadata"]["namespace"]
    assert isvc["spec"]["predictor"]["logger"]["url"] == (
        f"http://sluice-drift.{namespace}.svc.cluster.local/"
    )


def test_prod_runs_two_to_ten_replicas_of_each_server():
    (isvc,) = [
        o for o in _kustomize(MANIFESTS / "overlays" / "prod") if o["kind"] == "InferenceService"
    ]
    for component in ("predictor", "transformer"):
        spec = isvc["spec"][component]
        assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 10)
