"""Render the Helm chart offline with Helm's own engine (helm-python-sdk), and the schemas
its objects are checked against."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "sluice"
SCHEMAS = ROOT.parent / "shared" / "schemas"
STORAGE_URI = "s3://sluice/mlartifacts/1/models/m-0/artifacts"
BASE_VALUES = {"inferenceService": {"storageUri": STORAGE_URI}}

CRD_FILES = {
    "InferenceService": "kserve/serving.kserve.io_inferenceservices.yaml",
    "PodMonitor": "prometheus-operator/monitoring.coreos.com_podmonitors.yaml",
    "PrometheusRule": "prometheus-operator/monitoring.coreos.com_prometheusrules.yaml",
}
"""The custom resources the chart renders, and their CRDs in ../shared/schemas."""


def merged(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


@cache
def generator():
    """infra/render_manifests.py, the one place the chart is rendered (`make manifests`)."""
    spec = importlib.util.spec_from_file_location(
        "render_manifests", ROOT / "infra" / "render_manifests.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(values: dict | None = None) -> list[dict]:
    """Every object the chart renders with these values (over BASE_VALUES)."""
    return generator().chart_objects(merged(BASE_VALUES, values or {}))


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


@cache
def crd_schema(kind: str) -> dict:
    """The CRD's openAPIV3Schema for its storage version, from ../shared/schemas."""
    path = SCHEMAS / CRD_FILES[kind]
    if not path.is_file():
        pytest.skip(f"{path} is absent: the upstream CRD schemas live in ../shared/schemas")
    crd = yaml.safe_load(path.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v.get("storage")]
    return version["schema"]["openAPIV3Schema"]


def pod_specs(obj: dict) -> list[dict]:
    """The pod specs an object runs: an InferenceService's components, a workload's
    template."""
    if obj["kind"] == "InferenceService":
        return [obj["spec"][c] for c in ("predictor", "transformer") if c in obj["spec"]]
    if obj["kind"] == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if obj["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return [obj["spec"]["template"]["spec"]]
    return []


def strict_crd(schema: dict) -> dict:
    """A structural schema as the API server applies it: an object that lists its
    properties accepts no others (the server prunes or, with strict field validation,
    refuses them) unless it says `x-kubernetes-preserve-unknown-fields`."""
    if not isinstance(schema, dict):
        return schema
    out = {k: strict_crd(v) if isinstance(v, dict) else v for k, v in schema.items()}
    if "properties" in schema:
        out["properties"] = {k: strict_crd(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out.setdefault("additionalProperties", False)
    if isinstance(schema.get("items"), dict):
        out["items"] = strict_crd(schema["items"])
    return out
