"""The rollout itself: step the canary's traffic share, judge it at each step, then promote
it or roll it back, keeping its state on the InferenceService so that it can resume.

Every write is one merge patch that carries the spec change, the new state and the
decision together, conditional on the object's resourceVersion: a crash between any two
writes leaves the object in a state the next run continues from, and a concurrent writer
makes the write fail rather than be overwritten.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from components.rollout.analysis import Analysis, Outcome
from components.rollout.config import RolloutConfig
from components.rollout.isvc import (
    Revisions,
    model_patch,
    model_version,
    storage_uri,
    with_model,
)
from components.rollout.kube import Conflict, InferenceServices
from components.rollout.state import (
    DECISIONS,
    LEASE,
    STATE,
    Decision,
    Lease,
    Phase,
    RolloutState,
    decisions,
    with_decision,
)

log = logging.getLogger("sluice.rollout")


class RolloutRefused(RuntimeError):
    """Another rollout holds the InferenceService, or an unfinished one is in the way."""


class RolloutFailed(RuntimeError):
    """The rollout cannot go on (no such InferenceService and no template, a revision that
    never became ready, an abort by someone else)."""


class Analyst(Protocol):
    def analyse(self, version: str, start: float, end: float) -> Analysis:
        """The canary (`version`) against the stable, over what they served in between."""


class Aliases(Protocol):
    def promote(self, version: str) -> dict:
        """`champion` to `version`, the old champion to `previous`; what moved."""


@dataclass
class RolloutResult:
    name: str
    namespace: str
    version: str
    result: str
    """deployed, promoted, rolled-back or unchanged"""
    reason: str
    seconds: float
    decisions: list[dict] = field(default_factory=list)
    aliases: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def default_holder() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:6]}"


class Rollout:
    def __init__(
        self,
        config: RolloutConfig,
        kube: InferenceServices,
        analyst: Analyst,
        aliases: Aliases,
        on_decision: Callable[[Decision, RolloutState], None] = lambda d, s: None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        holder: str | None = None,
        retry: bool = False,
    ):
        self.config, self.kube, self.analyst, self.aliases = config, kube, analyst, aliases
        self.retry = retry
        """Roll a version out again that was rolled back."""
        self.on_decision, self.clock, self.sleep = on_decision, clock, sleep
        self.holder = holder or default_holder()
        self.started = clock()
        self.moved_aliases: dict = {}

    # ── reading and writing the object ──────────────────────────────────────────────

    def _get(self) -> dict:
        isvc = self.kube.get(self.config.namespace, self.config.name)
        if isvc is None:
            raise RolloutFailed(f"{self._ref}: the InferenceService is gone")
        return isvc

    @property
    def _ref(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"

    def _annotations(self, isvc: dict) -> dict:
        return isvc.get("metadata", {}).get("annotations") or {}

    def _lease(self, renewed: float | None = None) -> str:
        version = self.version
        return Lease(
            self.holder, version, self.clock() if renewed is None else renewed
        ).to_annotation()

    def _write(
        self,
        state: RolloutState | None,
        decision: Decision | None = None,
        predictor: dict | None = None,
        release: bool = False,
    ) -> dict:
        """One conditional patch: the predictor's changes, the state, the decision, the
        lease (renewed, or released). A conflict is retried on the fresh object while this
        rollout still holds the lease."""
        for _ in range(5):
            isvc = self._get()
            self._check_holder(isvc)
            annotations: dict = {LEASE: None if release else self._lease()}
            if state is not None:
                annotations[STATE] = state.to_annotation()
            if decision is not None:
                annotations[DECISIONS] = with_decision(self._annotations(isvc), decision)
            patch: dict = {
                "metadata": {
                    "resourceVersion": isvc["metadata"]["resourceVersion"],
                    "annotations": annotations,
                }
            }
            if predictor:
                patch["spec"] = {"predictor": predictor}
            try:
                written = self.kube.patch(self.config.namespace, self.config.name, patch)
            except Conflict:
                continue
            if decision is not None and state is not None:
                self._announce(written, decision, state)
            return written
        raise RolloutRefused(f"{self._ref}: kept changing under this rollout; try again")

    def _check_holder(self, isvc: dict) -> None:
        lease = Lease.from_annotations(self._annotations(isvc))
        if lease is not None and lease.holder != self.holder:
            raise RolloutRefused(
                f"{self._ref}: taken over by {lease.holder} (rolling out version "
                f"{lease.version}); this rollout stops"
            )

    def _announce(self, isvc: dict, decision: Decision, state: RolloutState) -> None:
        alarming = decision.action in ("rolled-back", "failed-check")
        level = (
            logging.WARNING if alarming or (decision.analysis or {}).get("error") else logging.INFO
        )
        log.log(
            level,
            "%s v%s %s at %d%%: %s",
            self._ref,
            state.version,
            decision.action,
            decision.percent,
            decision.message,
        )
        try:
            self.kube.event(
                isvc, _reason(decision.action), decision.message, warning=level == logging.WARNING
            )
        except Exception as exc:  # an Event is a courtesy: the annotations hold the record
            log.warning("%s: could not record an Event: %s", self._ref, exc)
        self.on_decision(decision, state)

    def _decision(
        self, action: str, state: RolloutState, message: str, analysis: Analysis | None = None
    ) -> Decision:
        return Decision(
            round(self.clock(), 3),
            action,
            str(state.phase),
            state.percent if state.phase is Phase.PROGRESSING else _final_percent(state.phase),
            state.failures,
            message,
            None if analysis is None else analysis.to_dict(),
        )

    # ── the lease ──────────────────────────────────────────────────────────────────

    def _acquire(self, isvc: dict) -> dict:
        busy = lease_holder(isvc, self.clock(), self.config.lease_s, self.holder)
        if busy is not None:
            raise RolloutRefused(f"{self._ref}: {busy}")
        lease = Lease.from_annotations(self._annotations(isvc))
        if lease is not None and lease.holder != self.holder:
            log.warning(
                "%s: taking over from %s, silent for %.0f s",
                self._ref,
                lease.holder,
                self.clock() - lease.renewed,
            )
        patch = {
            "metadata": {
                "resourceVersion": isvc["metadata"]["resourceVersion"],
                "annotations": {LEASE: self._lease()},
            }
        }
        try:
            return self.kube.patch(self.config.namespace, self.config.name, patch)
        except Conflict:  # changed meanwhile: a fresh lease there now refuses, else again
            return self._acquire(self._get())

    def _wait(self, seconds: float, state: RolloutState) -> None:
        """Sleep, reading the object at each poll: stop if someone else took over or
        aborted, and renew the lease."""
        until = self.clock() + seconds
        while (left := until - self.clock()) > 0:
            self.sleep(min(self.config.poll_s, left))
            self._keep(state)

    def _keep(self, state: RolloutState) -> dict:
        isvc = self._get()
        self._check_holder(isvc)
        current = RolloutState.from_annotations(self._annotations(isvc))
        if current is None or current.version != state.version or current.phase != state.phase:
            raise RolloutFailed(
                f"{self._ref}: its rollout state changed under this rollout "
                f"({current.phase if current else 'none'}); this rollout stops"
            )
        lease = Lease.from_annotations(self._annotations(isvc))
        if lease is None or self.clock() - lease.renewed > self.config.lease_s / 3:
            isvc = self._write(None)
        return isvc

    def _settle(self, state: RolloutState, percent: int) -> bool:
        """Wait until a revision newer than the one the model change replaced is ready and
        has `percent` of the traffic."""
        deadline = self.clock() + self.config.ready_timeout_s
        while True:
            isvc = self._keep(state)
            if Revisions.of(isvc).settled(percent, state.replaced_revision):
                return True
            if self.clock() > deadline:
                return False
            self.sleep(self.config.poll_s)

    # ── the rollout ────────────────────────────────────────────────────────────────

    def run(self, version: str, uri: str, template: dict | None = None) -> RolloutResult:
        self.version = version
        try:
            return self._run(version, uri, template)
        except BaseException:
            self._let_go()
            raise

    def _let_go(self) -> None:
        """Release the lease on the way out of an error (or Ctrl-C), so that the next run
        resumes at once; the state on the object is consistent after every write."""
        try:
            isvc = self.kube.get(self.config.namespace, self.config.name)
            lease = Lease.from_annotations(self._annotations(isvc or {}))
            if isvc is not None and lease is not None and lease.holder == self.holder:
                self.kube.patch(
                    self.config.namespace,
                    self.config.name,
                    {
                        "metadata": {
                            "resourceVersion": isvc["metadata"]["resourceVersion"],
                            "annotations": {LEASE: None},
                        }
                    },
                )
        except Exception as exc:  # the lease then expires by itself
            log.warning("%s: could not release the lease: %s", self._ref, exc)

    def _run(self, version: str, uri: str, template: dict | None) -> RolloutResult:
        isvc = self.kube.get(self.config.namespace, self.config.name)
        if isvc is None:
            return self._first_deploy(version, uri, template)
        isvc = self._acquire(isvc)
        state = RolloutState.from_annotations(self._annotations(isvc))
        action, why = intent(state, storage_uri(isvc), version, uri, self.retry)
        if action == "refuse":
            self._write(None, release=True)
            raise RolloutRefused(f"{self._ref}: {why}")
        if action == "unchanged":
            self._write(None, release=True)
            kept = state if state is not None and state.version == version else None
            kept = kept or RolloutState(
                version, uri, version, uri, self.config.steps, Phase.PROMOTED
            )
            return self._result(kept, "unchanged", why)
        if action == "resume":
            log.info("%s: %s", self._ref, why)
            return self._continue(state)
        revisions = Revisions.of(isvc)
        state = RolloutState(
            version,
            uri,
            model_version(isvc),
            storage_uri(isvc),
            self.config.steps,
            started=self.clock(),
            replaced_revision=revisions.latest_created,
            stable_revision=revisions.latest_rolled_out,
        )
        predictor = {**model_patch(isvc, uri, version), "canaryTrafficPercent": state.percent}
        self._write(
            state,
            self._decision(
                "started",
                state,
                f"canary v{version} at {state.percent}% (stable v{state.stable_version}, "
                f"{state.stable_storage_uri})",
            ),
            predictor,
        )
        return self._continue(state)

    def abort(self, reason: str = "aborted by hand") -> RolloutResult:
        """Roll back the unfinished rollout now, whoever runs it: its process stops at its
        next read of the object."""
        isvc = self._get()
        state = RolloutState.from_annotations(self._annotations(isvc))
        if state is None or state.phase.finished:
            raise RolloutFailed(f"{self._ref}: no unfinished rollout to abort")
        self.version = state.version
        self._take(isvc)
        return self._rollback(state, reason)

    def _take(self, isvc: dict) -> None:
        """The lease, whoever holds it (an operator's abort)."""
        patch = {"metadata": {"annotations": {LEASE: self._lease()}}}
        self.kube.patch(self.config.namespace, self.config.name, patch)

    def _continue(self, state: RolloutState) -> RolloutResult:
        if state.phase is Phase.PROMOTING:
            return self._promote(state)
        if state.phase is Phase.ROLLING_BACK:
            return self._rollback(state, state.reason)
        return self._progress(state)

    def _progress(self, state: RolloutState) -> RolloutResult:
        config = self.config
        while state.step < len(config.analysed_steps):
            percent = state.percent
            isvc = self._get()
            if isvc["spec"]["predictor"].get("canaryTrafficPercent") != percent:
                self._write(state, predictor={"canaryTrafficPercent": percent})
            if not self._settle(state, percent):
                return self._rollback(
                    state,
                    f"the canary's revision was not ready with {percent}% of the traffic "
                    f"within {config.ready_timeout_s:.0f} s",
                )
            start = self.clock()
            self._wait(config.interval_s, state)
            analysis = self.analyst.analyse(state.version, start, self.clock())
            summary = _summary(analysis)
            if analysis.outcome is Outcome.PASS:
                nxt = state.moved(step=state.step + 1)
                if nxt.step < len(config.analysed_steps):
                    self._write(
                        nxt,
                        self._decision("passed", state, summary, analysis),
                        {"canaryTrafficPercent": nxt.percent},
                    )
                else:
                    self._write(nxt, self._decision("passed", state, summary, analysis))
                state = nxt
                continue
            overdue = self.clock() - state.started > config.deadline_s
            if analysis.outcome is Outcome.FAIL:
                state = state.moved(failures=state.failures + 1)
                self._write(
                    state,
                    self._decision(
                        "failed-check",
                        state,
                        f"{summary}; {state.failures} of {config.threshold} failed checks",
                        analysis,
                    ),
                )
                if state.failures >= config.threshold:
                    return self._rollback(state, f"{state.failures} failed checks: {summary}")
            else:
                self._write(state, self._decision("inconclusive", state, summary, analysis))
            if overdue:
                return self._rollback(
                    state,
                    f"deadline of {config.deadline_s:.0f} s passed without a conclusive "
                    f"analysis: {summary}",
                )
        return self._promote(state.moved(phase=Phase.PROMOTING))

    def _promote(self, state: RolloutState) -> RolloutResult:
        state = state.moved(phase=Phase.PROMOTING)
        self._write(state, predictor={"canaryTrafficPercent": None})
        if not self._settle(state, 100):
            return self._rollback(
                state.moved(phase=Phase.PROGRESSING),
                "the promoted revision did not take all the traffic",
            )
        self.moved_aliases = self.aliases.promote(state.version)
        state = state.moved(phase=Phase.PROMOTED)
        message = f"v{state.version} serves all traffic; aliases {self.moved_aliases}"
        result = "deployed" if state.stable_storage_uri is None else "promoted"  # a first one
        self._write(state, self._decision(result, state, message), release=True)
        return self._result(state, result, message)

    def _rollback(self, state: RolloutState, reason: str) -> RolloutResult:
        """Traffic back on the stable revision at once (`canaryTrafficPercent: 0` sends it
        to KServe's `prev`, the last rolled-out revision), and the stable model back in the
        spec. Once the canary was rolled out, `prev` is the canary itself: then the stable
        model comes back as a new revision taking all the traffic."""
        isvc = self._get()
        if state.stable_storage_uri is None:
            raise RolloutFailed(f"{self._ref}: v{state.version} was a first deploy: no stable")
        if state.phase is not Phase.ROLLING_BACK:  # else resumed: the patch is written again
            revisions = Revisions.of(isvc)
            state = state.moved(
                phase=Phase.ROLLING_BACK,
                reason=reason,
                replaced_revision=revisions.latest_created,
                forward=revisions.latest_rolled_out not in (None, state.stable_revision),
            )
        predictor = {
            **model_patch(isvc, state.stable_storage_uri, state.stable_version),
            "canaryTrafficPercent": None if state.forward else 0,
        }
        self._write(state, predictor=predictor)
        settled = self._settle(state, 100 if state.forward else 0)
        if settled and not state.forward and state.stable_revision is not None:
            serving = Revisions.of(self._get()).serving()
            settled = serving == {state.stable_revision}
        state = state.moved(phase=Phase.ROLLED_BACK)
        message = f"v{state.version} rolled back to v{state.stable_version}: {reason}"
        if not settled:
            message += (
                " (the stable revision did not take the traffic in time: check the predictor)"
            )
        self._write(state, self._decision("rolled-back", state, message), release=True)
        return self._result(state, "rolled-back", reason)

    def _first_deploy(self, version: str, uri: str, template: dict | None) -> RolloutResult:
        if template is None:
            raise RolloutFailed(
                f"{self._ref}: no such InferenceService; give a template to create it from "
                "(the chart's, e.g. manifests/base/inferenceservice-sluice-flights.yaml)"
            )
        state = RolloutState(
            version, uri, None, None, self.config.steps, Phase.PROMOTING, started=self.clock()
        )
        body = with_model(template, self.config.name, self.config.namespace, uri, version)
        body["metadata"].setdefault("annotations", {}).update(
            {STATE: state.to_annotation(), LEASE: self._lease()}
        )
        self.kube.create(self.config.namespace, body)
        return self._promote(state)

    def _result(self, state: RolloutState, result: str, reason: str) -> RolloutResult:
        isvc = self.kube.get(self.config.namespace, self.config.name)
        return RolloutResult(
            self.config.name,
            self.config.namespace,
            state.version,
            result,
            reason,
            round(self.clock() - self.started, 3),
            decisions(self._annotations(isvc or {})),
            self.moved_aliases,
        )


def intent(
    state: RolloutState | None, served: str, version: str, uri: str, retry: bool = False
) -> tuple[str, str]:
    """What a rollout of `version` (`uri`) does, given the object's rollout state and the
    model it serves: `canary`, `resume`, `unchanged` or `refuse`, and why. The one place
    `run` and the dry run's plan decide it."""
    if state is not None and state.version == version:
        if state.phase is Phase.ROLLED_BACK and retry:
            return "canary", f"version {version} was rolled back; trying it again (--retry)"
        if state.phase.finished:
            hint = " (--retry rolls it out again)" if state.phase is Phase.ROLLED_BACK else ""
            return "unchanged", f"version {version} was already {state.phase}{hint}"
        return (
            "resume",
            f"resuming the rollout of version {version} ({state.phase}, step {state.step})",
        )
    if state is not None and not state.phase.finished:
        return "refuse", (
            f"the rollout of version {state.version} is unfinished ({state.phase}); run it "
            "again to finish it, or abort it (`sluice rollout --abort`)"
        )
    if served == uri:
        return "unchanged", f"{uri} is already served"
    return "canary", f"canary of version {version}"


def lease_holder(isvc: dict, now: float, lease_s: float, holder: str | None = None) -> str | None:
    """Who else holds a fresh lease on the object, described; None when nobody does."""
    lease = Lease.from_annotations((isvc.get("metadata") or {}).get("annotations"))
    if lease is None or lease.holder == holder or now - lease.renewed >= lease_s:
        return None
    return (
        f"another rollout is running: {lease.holder}, rolling out version {lease.version}, "
        f"last seen {now - lease.renewed:.0f} s ago (its lease lasts {lease_s:.0f} s)"
    )


def _summary(analysis: Analysis) -> str:
    if analysis.error:
        return f"{analysis.outcome}: no metrics: {analysis.error}"
    parts = [
        f"{analysis.outcome} (score {analysis.score:.2f}, {analysis.canary_requests} canary / "
        f"{analysis.stable_requests} stable requests)"
    ]
    for check in analysis.checks:
        p = "n/a" if check.p_value is None else f"{check.p_value:.3g}"
        parts.append(f"{check.metric} {check.outcome} p={p}: {check.detail}")
    return "; ".join(parts)


def _final_percent(phase: Phase) -> int:
    return 100 if phase in (Phase.PROMOTING, Phase.PROMOTED) else 0


def _reason(action: str) -> str:
    """An Event reason: CamelCase, as Kubernetes' own."""
    return "Rollout" + "".join(part.capitalize() for part in action.split("-"))
