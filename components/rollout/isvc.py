"""What the rollout reads from and writes to an InferenceService: the predictor's model
(storage URI and version label), the canary share, and the predictor's revisions and
traffic as KServe reports them in Knative mode (`status.components.predictor`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

MODEL_VERSION_LABEL = "sluice.io/model-version"
"""On the predictor's pods: the registered version each revision serves."""
STORAGE_URI_ENV = "STORAGE_URI"
"""A custom predictor container's model location, which KServe's storage initializer
copies to /mnt/models (the chart's predictor)."""


class NotAnInferenceService(ValueError):
    """The object lacks what a rollout needs; the message names the field."""


def predictor(isvc: dict) -> dict:
    try:
        return isvc["spec"]["predictor"]
    except (KeyError, TypeError):
        raise NotAnInferenceService("spec.predictor: required") from None


def storage_uri(isvc: dict) -> str:
    """The predictor's model: `model.storageUri`, or a custom container's STORAGE_URI."""
    spec = predictor(isvc)
    if spec.get("model", {}).get("storageUri"):
        return spec["model"]["storageUri"]
    for container in spec.get("containers", []):
        for env in container.get("env", []):
            if env.get("name") == STORAGE_URI_ENV and env.get("value"):
                return env["value"]
    raise NotAnInferenceService(
        "spec.predictor: neither model.storageUri nor a container's STORAGE_URI is set"
    )


def model_version(isvc: dict) -> str | None:
    return predictor(isvc).get("labels", {}).get(MODEL_VERSION_LABEL)


def model_patch(isvc: dict, uri: str, version: str) -> dict:
    """The predictor patch that serves `uri` as `version`: a new revision. A merge patch
    replaces lists whole, so the containers go back complete, with only the URI changed."""
    spec = predictor(isvc)
    storage_uri(isvc)  # it has one to replace
    patch: dict = {"labels": {MODEL_VERSION_LABEL: version}}
    if spec.get("model", {}).get("storageUri"):
        patch["model"] = {"storageUri": uri}
    else:
        containers = copy.deepcopy(spec["containers"])
        for container in containers:
            for env in container.get("env", []):
                if env.get("name") == STORAGE_URI_ENV:
                    env["value"] = uri
        patch["containers"] = containers
    return patch


def with_model(template: dict, name: str, namespace: str, uri: str, version: str) -> dict:
    """A new InferenceService from a template (the chart's, rendered), serving `uri`."""
    body = copy.deepcopy(template)
    body.setdefault("metadata", {}).update(name=name, namespace=namespace)
    for key in ("resourceVersion", "uid", "generation", "creationTimestamp"):
        body["metadata"].pop(key, None)
    body.pop("status", None)
    spec = predictor(body)
    spec.pop("canaryTrafficPercent", None)
    patch = model_patch(body, uri, version)
    spec.setdefault("labels", {}).update(patch.pop("labels"))
    for key, value in patch.items():
        spec[key] = {**spec.get(key, {}), **value} if key == "model" else value
    return body


@dataclass(frozen=True)
class Revisions:
    """`status.components.predictor`. (Not `status.observedGeneration`: in Knative mode
    KServe copies it from the Knative Service it reconciled last, the transformer's when
    there is one, so it need not follow the InferenceService's generation.)"""

    latest_created: str | None
    latest_ready: str | None
    latest_rolled_out: str | None
    previous_rolled_out: str | None
    traffic: tuple[dict, ...]
    ready: bool
    """The `Ready` condition is True."""

    @classmethod
    def of(cls, isvc: dict) -> Revisions:
        status = isvc.get("status") or {}
        component = (status.get("components") or {}).get("predictor") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        return cls(
            component.get("latestCreatedRevision"),
            component.get("latestReadyRevision"),
            component.get("latestRolledoutRevision"),
            component.get("previousRolledoutRevision"),
            tuple(component.get("traffic") or ()),
            conditions.get("Ready") == "True",
        )

    def latest_percent(self) -> int:
        """The share of traffic on the newest ready revision (Knative resolves
        `latestRevision: true` to it)."""
        return sum(t.get("percent") or 0 for t in self.traffic if t.get("latestRevision"))

    def serving(self) -> set[str]:
        """The revisions that get any traffic."""
        return {t.get("revisionName") for t in self.traffic if (t.get("percent") or 0) > 0}

    def settled(self, percent: int, replacing: str | None = None) -> bool:
        """The newest revision is ready and has `percent` of the traffic; with `replacing`
        (the newest revision before a change of the model), it is a newer one than that."""
        return (
            self.ready
            and self.latest_created is not None
            and self.latest_created != replacing
            and self.latest_ready == self.latest_created
            and self.latest_percent() == percent
        )
