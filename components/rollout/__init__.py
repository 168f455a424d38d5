"""Rollout: bring a registered model version to production through a metric-gated canary
of the KServe InferenceService, promoting it (MLflow `champion`) or rolling it back by
itself. `plan` is the dry run: what would happen, changing nothing."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from components.rollout.aliases import RegistryAliases
from components.rollout.config import DEFAULT_STEPS, RolloutConfig, RolloutConfigError
from components.rollout.controller import (
    Rollout,
    RolloutFailed,
    RolloutRefused,
    RolloutResult,
    intent,
    lease_holder,
)
from components.rollout.isvc import Revisions, model_patch, model_version, storage_uri
from components.rollout.judge import PrometheusAnalyst
from components.rollout.kube import InferenceServices, KubeInferenceServices
from components.rollout.prometheus import Prometheus
from components.rollout.record import RolloutRecord
from components.rollout.state import Lease, RolloutState

__all__ = [
    "DEFAULT_STEPS",
    "RolloutConfig",
    "RolloutConfigError",
    "RolloutFailed",
    "RolloutRefused",
    "RolloutResult",
    "plan",
    "run",
]
log = logging.getLogger("sluice.rollout")


def run(
    version: str,
    uri: str,
    config: RolloutConfig,
    prometheus_url: str,
    tracking_uri: str,
    out_dir: Path,
    template: dict | None = None,
    kube: InferenceServices | None = None,
    metrics_port: int | None = None,
    abort: bool = False,
    retry: bool = False,
) -> RolloutResult:
    """Roll `version` (served from `uri`) out, or (`abort`) roll back the unfinished
    rollout; the record goes to `out_dir` (rollout.json, rollout.html, rollout.prom)."""
    record = RolloutRecord(config.name, config.namespace)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=record.registry)
    rollout = Rollout(
        config,
        kube or KubeInferenceServices(),
        PrometheusAnalyst(Prometheus(prometheus_url), config),
        RegistryAliases(tracking_uri),
        on_decision=record,
        retry=retry,
    )
    result = rollout.abort() if abort else rollout.run(version, uri, template)
    record.finish(result.version, result.result)
    record.write(out_dir, result.to_dict())
    return result


def plan(
    version: str,
    uri: str,
    config: RolloutConfig,
    template: dict | None = None,
    kube: InferenceServices | None = None,
    retry: bool = False,
) -> dict:
    """What `run` would do from the InferenceService's present state; reads only."""
    kube = kube or KubeInferenceServices()
    isvc = kube.get(config.namespace, config.name)
    bounds = {
        "steps": list(config.steps),
        "interval_s": config.interval_s,
        "threshold": config.threshold,
        "deadline_s": config.deadline_s,
        "thresholds": config.limits.__dict__,
        "rollback_within_s": config.rollback_bound_s,
        "promotion_within_s": config.promotion_bound_s,
    }
    target = f"{config.namespace}/{config.name}"
    if isvc is None:
        action = "create" if template is not None else "refuse: no template to create it from"
        return {"target": target, "action": action, "version": version, "storage_uri": uri}
    annotations = isvc.get("metadata", {}).get("annotations") or {}
    state, lease = RolloutState.from_annotations(annotations), Lease.from_annotations(annotations)
    current = {
        "storage_uri": storage_uri(isvc),
        "model_version": model_version(isvc),
        "traffic": list(Revisions.of(isvc).traffic),
        "rollout": None if state is None else state.to_annotation(),
        "lease": None if lease is None else lease.to_annotation(),
    }
    busy = lease_holder(isvc, time.time(), config.lease_s)
    action, why = (
        ("refuse", busy) if busy else intent(state, current["storage_uri"], version, uri, retry)
    )
    first = {**model_patch(isvc, uri, version), "canaryTrafficPercent": config.steps[0]}
    return {
        "target": target,
        "action": action,
        "version": version,
        "storage_uri": uri,
        "current": current,
        "why": why,
        "first_patch": {"spec": {"predictor": first}} if action == "canary" else None,
        **bounds,
    }
