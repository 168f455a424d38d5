"""A rollout's state and decisions, kept in the InferenceService's annotations: whoever runs
the rollout next (after a crash, on another machine) reads where it stands from the object
itself, and `kubectl get isvc -o yaml` shows it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum

PREFIX = "rollout.sluice.io"
STATE = f"{PREFIX}/state"
LEASE = f"{PREFIX}/lease"
DECISIONS = f"{PREFIX}/decisions"
ANNOTATIONS = (STATE, LEASE, DECISIONS)
"""KServe copies an InferenceService's annotations onto its Knative revisions, so writing
one would start a new revision, unless KServe's `inferenceservice-config` lists it in
`serviceAnnotationDisallowedList`: the bootstrap does (infra/kserve-inferenceservice.json)."""
KEPT_DECISIONS = 12
"""Decisions kept on the object (the newest); the report and the log keep them all."""


class Phase(StrEnum):
    PROGRESSING = "progressing"
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    ROLLING_BACK = "rolling-back"
    ROLLED_BACK = "rolled-back"

    @property
    def finished(self) -> bool:
        return self in (Phase.PROMOTED, Phase.ROLLED_BACK)


@dataclass(frozen=True)
class RolloutState:
    version: str
    storage_uri: str
    stable_version: str | None
    stable_storage_uri: str | None
    steps: tuple[int, ...]
    phase: Phase = Phase.PROGRESSING
    step: int = 0
    """Index into `steps` of the canary share being analysed."""
    failures: int = 0
    started: float = 0.0
    """Epoch seconds: the deadline counts from here."""
    reason: str = ""
    replaced_revision: str | None = None
    """The newest revision before the last change of the model: the one KServe creates for
    the change is newer (how a resumed rollout knows its change was seen)."""
    stable_revision: str | None = None
    """The revision rolled out when the rollout started: a rollback sends traffic back to it."""
    forward: bool = False
    """A rollback after the canary was rolled out (KServe's `prev` is then the canary): the
    stable model comes back as a new revision at 100% instead."""

    @property
    def percent(self) -> int:
        return self.steps[min(self.step, len(self.steps) - 1)]

    def to_annotation(self) -> str:
        return json.dumps({**asdict(self), "phase": str(self.phase)}, sort_keys=True)

    @classmethod
    def from_annotations(cls, annotations: dict | None) -> RolloutState | None:
        raw = (annotations or {}).get(STATE)
        if not raw:
            return None
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        return cls(**{**data, "steps": tuple(data["steps"]), "phase": Phase(data["phase"])})

    def moved(self, **changes) -> RolloutState:
        return replace(self, **changes)


@dataclass(frozen=True)
class Lease:
    """Who is running the rollout, renewed while it runs: a second rollout refuses while
    the lease is fresh, and takes over one whose holder stopped renewing (it died)."""

    holder: str
    version: str
    renewed: float

    def to_annotation(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_annotations(cls, annotations: dict | None) -> Lease | None:
        raw = (annotations or {}).get(LEASE)
        return cls(**json.loads(raw)) if raw else None


@dataclass(frozen=True)
class Decision:
    """One judgement or action, with its numbers."""

    at: float
    action: str
    """started, passed, failed-check, inconclusive, promoted, rolled-back or deployed"""
    phase: str
    percent: int
    failures: int
    message: str
    analysis: dict | None = field(default=None)

    def to_dict(self) -> dict:
        return asdict(self)


def decisions(annotations: dict | None) -> list[dict]:
    raw = (annotations or {}).get(DECISIONS)
    return json.loads(raw) if raw else []


def with_decision(annotations: dict | None, decision: Decision) -> str:
    """The decisions annotation with `decision` appended, keeping the newest."""
    kept = [*decisions(annotations), decision.to_dict()][-KEPT_DECISIONS:]
    return json.dumps(kept, sort_keys=True)
