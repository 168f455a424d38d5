"""Write the kustomize base (manifests/base/) from the Helm chart's defaults, so the two
never drift: `make manifests`. tests/delivery/test_kustomize.py fails when the committed
base differs from a fresh render, and compares both overlays with the chart object by
object."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "sluice"
BASE = ROOT / "manifests" / "base"
RELEASE, NAMESPACE = "sluice", "sluice"
# What the chart's defaults leave to the user: the base names the champion's place.
BASE_VALUES = {"inferenceService": {"storageUri": "s3://sluice/models/sluice-flights/champion"}}
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
"""Labels that say Helm manages an object: not true of what kubectl applies."""


def chart_objects(values: dict | None = None) -> list[dict]:
    from helm_python.chart import Chart

    rendered = Chart.load(str(CHART)).render(
        values or BASE_VALUES, name=RELEASE, namespace=NAMESPACE
    )
    objects = []
    for path, text in sorted(rendered.items()):
        if not path.endswith("NOTES.txt"):
            objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def without_helm_labels(obj: dict) -> dict:
    labels = {
        k: v for k, v in obj["metadata"].get("labels", {}).items() if k not in HELM_ONLY_LABELS
    }
    return {**obj, "metadata": {**obj["metadata"], "labels": labels}}


def file_name(obj: dict) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def base_files() -> dict[str, str]:
    """manifests/base/: one file per object, and the kustomization listing them."""
    header = "# Generated from helm/sluice by `make manifests`: edit the chart, not this file.\n"
    files = {
        file_name(obj): header + yaml.safe_dump(without_helm_labels(obj), sort_keys=False)
        for obj in chart_objects()
    }
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": sorted(files),
        "labels": [{"pairs": {"app.kubernetes.io/managed-by": "kustomize"}}],
    }
    files["kustomization.yaml"] = header + yaml.safe_dump(kustomization, sort_keys=False)
    return files


def main() -> None:
    files = base_files()
    for stale in BASE.glob("*.yaml"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (BASE / name).write_text(text)
    print(f"wrote {len(files)} files to {BASE.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
