"""A fake of the Kubernetes API server with KServe's controller behind it, for
InferenceServices in Knative mode, standing in for a cluster, which cannot run here.

`FakeInferenceServices` implements `components.rollout.kube.InferenceServices` (get,
create, patch, event) in memory. What a rollout relies on follows KServe v0.20's own code
(github.com/kserve/kserve at aaac4e294, v0.20.0-rc0-104; the CRD is v0.20.0's) and its docs
("Canary rollout": https://kserve.github.io/website/docs/model-serving/predictive-inference/rollout-strategies/canary-example).

The API server:

- Every object that create() receives, and every object once a patch is applied, is checked
  against the InferenceService CRD's openAPIV3Schema from ../shared/schemas, made strict
  (`tests/delivery/chart.py`: `crd_schema`, `strict_crd`; the fake skips the test when the
  schemas are absent). A value of the wrong type or shape is refused as the API server does
  (422 `Invalid`); a field the schema does not declare is refused as with strict field
  validation (400 `BadRequest`, "strict decoding error"). The client's default (`Warn`)
  would prune the field and log a warning instead; a silently dropped field is the worse
  outcome, so the fake is the stricter of the two. A refused object is not stored. The
  CRD's structural defaults are applied, as the API server does.
- KServe's validating webhook's name check (`IsvcRegexp`, 403) is modelled; its mutating
  webhook (runtime, resource and service-account defaults) is not: the spec is kept as sent.
- metadata: uid, generation (1, then +1 whenever `spec` changes, never for metadata),
  resourceVersion (a string from one counter, moved on by every write, none by a patch
  that changes nothing), creationTimestamp. `status` is a subresource: what create() or
  patch() carries under `status` is ignored.
- patch() is a JSON merge patch (RFC 7386). With `metadata.resourceVersion` (or `uid`) in
  it, it applies only to that version of the object, else `Conflict` and nothing changes,
  as the real adapter maps the server's 409. The version in the patch is never stored:
  the write gets a new one.
- Other refusals are `ApiError`s, the real adapter's `ApiException` with the same status
  and a Status body: `NotFound` (404), `AlreadyExists` (409, from create()), `Invalid`
  (422), `BadRequest` (400), `Forbidden` (403).
- create() and patch() answer the object as written, before the controller reacts, as the
  API server does. KServe then reconciles at once (synchronously, inside the same call),
  and when the status changes that status write moves resourceVersion on again: the next
  get() sees both, and a patch carrying the version that patch() answered gets `Conflict`.

KServe's controller and Knative Serving, per component (predictor, transformer, explainer;
each one Knative Service named `<name>-predictor`, `<name>-transformer`, ...):

- Revisions (Knative): a Knative Service gets a new revision, `<service>-00001`, `-00002`,
  ..., whenever its revision template changes. The template is what KServe puts there
  (`components/predictor.go`, `buildObjectMeta`; `reconcilers/knative/ksvc_reconciler.go`,
  `createKnativeService`): the component's spec without `canaryTrafficPercent`, which only
  sets traffic, plus the InferenceService's labels and annotations, except those KServe
  keeps off revisions (`constants.ServiceAnnotationDisallowedList`,
  `RevisionTemplateLabelDisallowedList`, and the annotations it moves to the Knative
  Service). So a label or annotation written on the InferenceService makes a new revision,
  as on a cluster. Going back to an earlier spec makes a new revision too, as Knative does.
- Traffic (`createKnativeService`): with `canaryTrafficPercent: X` and a rolled-out revision,
  `[{latestRevision: true, percent: X, tag: latest}, {revisionName: <latestRolledoutRevision>,
  latestRevision: false, percent: 100-X, tag: prev}]`, the second only when X < 100;
  otherwise `[{latestRevision: true, percent: 100, tag: latest}]`. KServe sets `tag: latest`
  only with the annotation `serving.kserve.io/enable-tag-routing: "true"`, and `tag: prev`
  always. Knative resolves `latestRevision: true` to the latest *ready* revision, so while a
  new revision is not ready its share goes to the one before; status entries with a tag
  carry the tag's URL. A percent outside 0..100 is refused by Knative's webhook: KServe marks
  the component `ReconcileFailed` and nothing else changes.
- Status (`apis/serving/v1beta1/inference_service_status.go`, `PropagateStatus`, ported
  line by line): `status.components.<component>` has `latestCreatedRevision`,
  `latestReadyRevision`, `latestRolledoutRevision` (the latest ready revision once it had
  100%), `previousRolledoutRevision` (the one before), `traffic[]`, `url`, `address`; the
  rollback rule is kept (with the latest revision rolled out, `canaryTrafficPercent` < 100
  on the same revision makes `previousRolledoutRevision` the rolled-out one again, so the
  next pass sends `prev` traffic there). KServe and Knative are run to a fixed point, as the
  watches between them do on a cluster.
- `status.observedGeneration` is, as in KServe's Knative mode, the observedGeneration of
  the *Knative Service* that was propagated last (the transformer's when there is one), not
  the InferenceService's generation: the two agree only by coincidence.
- Conditions: `<Component>Ready`, `<Component>RouteReady`, `<Component>ConfigurationReady`
  from the Knative Service (`ConfigurationsReady` follows the latest created revision:
  Unknown while it comes up, False with reason `RevisionFailed` when it failed; `RoutesReady`
  is True once any revision is ready), `RoutesReady` and `LatestDeploymentReady` across
  components (`PropagateCrossComponentStatus`), `IngressReady` as the ingress reconciler
  sets it with Istio virtual hosts (`reconcilers/ingress/ingress_reconciler.go`), and
  `Ready` from `PredictorReady` and `IngressReady` (KServe's living condition set).
  `status.url` is `http://<name>.<namespace>.example.com` (Knative's default domain).
- Readiness of a new revision: at once by default. With `hold_readiness = True`, new
  revisions wait (Ready Unknown, traffic on the revision before) until
  `release(namespace, name)`, or `release(namespace, name, fail="...")` to make them fail
  (`component=` picks one component's).
  `fail_when(component, spec)`, when set, fails a revision whose spec it returns a
  message for, as a canary that never comes up.

Not modelled: Standard (raw Deployment) mode, `spec.canary[]`, ModelMesh (an object whose
`serving.kserve.io/deploymentMode` names another mode raises NotImplementedError);
`status.modelStatus` (it comes from pods); scale to zero; deletion, `serving.kserve.io/stop`;
list and watch; renaming a component (`predictor.name`) after creation; the controller's
own Events.
event() records what the rollout says in `events`, and refuses (AssertionError) an Event
about an object it does not hold, which the API server would accept.

`calls` logs each request as (verb, namespace, name); `traffic()`, `revisions()` and
`revision_spec()` say what the cluster routes and what each revision serves. One lock
guards the state, so another thread may read traffic while a rollout patches.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema
from kubernetes.client.exceptions import ApiException

from components.rollout.kube import API_VERSION, COMPONENT, Conflict
from components.rollout.state import ANNOTATIONS as ROLLOUT_ANNOTATIONS
from tests.delivery.chart import crd_schema, strict_crd

KIND = "InferenceService"
COMPONENTS = ("predictor", "transformer", "explainer")
"""In the order KServe's controller reconciles them."""
DOMAIN = "example.com"
"""Knative's default domain."""
TAG_ROUTING = "serving.kserve.io/enable-tag-routing"
DEPLOYMENT_MODE = "serving.kserve.io/deploymentMode"
KNATIVE_MODES = ("Knative", "Serverless")
"""`Serverless` is the deprecated name the defaulting webhook turns into `Knative`."""
OFF_REVISION_ANNOTATIONS = frozenset(
    {
        "autoscaling.knative.dev/min-scale",
        "autoscaling.knative.dev/max-scale",
        "internal.serving.kserve.io/storage-initializer-sourceuri",
        "kubectl.kubernetes.io/last-applied-configuration",
        "modelFormat",
        "serving.knative.dev/rollout-duration",
        "serving.knative.openshift.io/enablePassthrough",
    }
)
"""`constants.ServiceAnnotationDisallowedList`, and `managedKsvcAnnotations`, which KServe
puts on the Knative Service rather than its revision template."""
OFF_REVISION_LABELS = frozenset({"networking.knative.dev/visibility"})
"""`constants.RevisionTemplateLabelDisallowedList`."""
ISVC_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
"""KServe's validating webhook (`IsvcRegexp`)."""
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
CONDITIONS = {
    "predictor": ("PredictorReady", "PredictorRouteReady", "PredictorConfigurationReady"),
    "transformer": ("TransformerReady", "TransformerRouteReady", "TransformerConfigurationReady"),
    "explainer": ("ExplainerReady", "ExplainerRoutesReady", "ExplainerConfigurationReady"),
}
"""KServe's readyConditionsMap, routeConditionsMap, configurationConditionsMap (sic)."""
READY_DEPENDS_ON = ("PredictorReady", "IngressReady")
"""KServe's living condition set: what `Ready` is made of; the others are `severity: Info`."""


class ApiError(ApiException):
    """A refusal as the real adapter raises it: the `kubernetes` client's ApiException with
    the HTTP status, and a Kubernetes Status as its body."""

    code, phrase, kube_reason = 500, "Internal Server Error", "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(status=self.code, reason=self.phrase)
        self.message = message
        self.body = json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": self.kube_reason,
                "code": self.code,
            }
        )


class BadRequest(ApiError):
    code, phrase, kube_reason = 400, "Bad Request", "BadRequest"


class Forbidden(ApiError):
    code, phrase, kube_reason = 403, "Forbidden", "Forbidden"


class NotFound(ApiError):
    code, phrase, kube_reason = 404, "Not Found", "NotFound"


class AlreadyExists(ApiError):
    code, phrase, kube_reason = 409, "Conflict", "AlreadyExists"


class Invalid(ApiError):
    code, phrase, kube_reason = 422, "Unprocessable Entity", "Invalid"


@dataclass
class Revision:
    """A Knative revision: what it serves, and whether it came up."""

    name: str
    component: str
    spec: dict
    """The component's spec it was made from, without `canaryTrafficPercent`."""
    state: str = "pending"
    """pending, ready or failed."""
    message: str = ""


@dataclass
class _KnativeService:
    name: str
    template: dict
    traffic: list[dict]
    generation: int = 1
    revisions: list[Revision] = field(default_factory=list)
    latest_ready: str | None = None
    """Knative moves it only to the latest created revision, once that one is ready."""


@dataclass
class _Stored:
    obj: dict
    services: dict[str, _KnativeService] = field(default_factory=dict)


@cache
def validators() -> tuple[jsonschema.Draft7Validator, jsonschema.Draft7Validator]:
    """The strict CRD schema for whole objects, and its `status` part."""
    schema = strict_crd(crd_schema(KIND))
    return (
        jsonschema.Draft7Validator(schema),
        jsonschema.Draft7Validator(schema["properties"]["status"]),
    )


class FakeInferenceServices:
    """InferenceServices in memory, as a cluster with KServe in Knative mode keeps them."""

    def __init__(self, annotation_disallowed: Iterable[str] = ROLLOUT_ANNOTATIONS) -> None:
        validators()  # skips the test here when ../shared/schemas is absent
        self.off_revision_annotations = OFF_REVISION_ANNOTATIONS | frozenset(annotation_disallowed)
        """KServe's list plus what its `inferenceservice-config` ConfigMap adds
        (`inferenceService.serviceAnnotationDisallowedList`, appended to the defaults):
        sluice's bootstrap adds the rollout's annotations, so that writing them makes no
        new revision; `annotation_disallowed=()` is a KServe left as installed."""
        self.hold_readiness = False
        """New revisions wait for release() instead of coming up at once."""
        self.fail_when: Callable[[str, dict], str | None] | None = None
        """(component, spec) → a failure message for a revision that never comes up."""
        self.calls: list[tuple[str, str, str]] = []
        """(verb, namespace, name) per request: get, create, patch, event."""
        self.events: list[dict] = []
        """The Events, as the adapter would create them."""
        self._objects: dict[tuple[str, str], _Stored] = {}
        self._version = 0
        self._lock = threading.RLock()

    # The adapter's protocol

    def get(self, namespace: str, name: str) -> dict | None:
        with self._lock:
            self.calls.append(("get", namespace, name))
            stored = self._objects.get((namespace, name))
            return copy.deepcopy(stored.obj) if stored else None

    def create(self, namespace: str, body: dict) -> dict:
        with self._lock:
            obj = _as_json(body)
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            name = meta.get("name")
            self.calls.append(("create", namespace, str(name)))
            _check_kind(obj)
            if meta.get("namespace", namespace) != namespace:
                raise BadRequest(
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request"
                )
            if not isinstance(name, str) or not name:
                raise Invalid(
                    f"{KIND}.{API_VERSION.split('/')[0]} is invalid: metadata.name: "
                    "Required value: name or generateName is required"
                )
            if meta.get("resourceVersion"):
                raise ApiError("resourceVersion should not be set on objects to be created")
            if (namespace, name) in self._objects:
                raise AlreadyExists(f'inferenceservices.serving.kserve.io "{name}" already exists')
            if not ISVC_NAME.fullmatch(name):
                raise Forbidden(
                    'admission webhook "inferenceservice.kserve-webhook-server.validator" denied '
                    f'the request: The InferenceService "{name}" is invalid: a InferenceService '
                    f"name must consist of lower case alphanumeric characters or '-', and must "
                    f'start with alphabetical character. (e.g. "my-name" or "abc-123", regex '
                    f"used for validation is '{ISVC_NAME.pattern}')"
                )
            obj.pop("status", None)
            obj["metadata"] = {
                **meta,
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "generation": 1,
                "creationTimestamp": _now(),
            }
            self._admit(obj)
            self._mode(obj)
            obj["metadata"]["resourceVersion"] = self._next_version()
            stored = self._objects[(namespace, name)] = _Stored(obj)
            written = copy.deepcopy(obj)
            self._reconcile(stored)
            return written

    def patch(self, namespace: str, name: str, patch: dict) -> dict:
        with self._lock:
            self.calls.append(("patch", namespace, name))
            stored = self._objects.get((namespace, name))
            if stored is None:
                raise NotFound(f'inferenceservices.serving.kserve.io "{name}" not found')
            patch = _as_json(patch)
            old = stored.obj
            asked = patch.get("metadata") or {}
            if asked.get("uid") not in (None, old["metadata"]["uid"]):
                raise Conflict(
                    f"Precondition failed: UID in precondition: {asked['uid']}, "
                    f"UID in object meta: {old['metadata']['uid']}"
                )
            if asked.get("resourceVersion") not in (None, old["metadata"]["resourceVersion"]):
                raise Conflict(
                    "Operation cannot be fulfilled on inferenceservices.serving.kserve.io "
                    f'"{name}": the object has been modified; please apply your changes to the '
                    "latest version and try again"
                )
            patch.pop("status", None)
            new = merge_patch({k: v for k, v in old.items() if k != "status"}, patch)
            _check_kind(new)
            meta = new.get("metadata") if isinstance(new.get("metadata"), dict) else {}
            if meta.get("name") != name or meta.get("namespace") != namespace:
                raise BadRequest("metadata.name and metadata.namespace cannot be changed")
            system = ("uid", "generation", "creationTimestamp", "resourceVersion")
            new["metadata"] = {**meta, **{k: old["metadata"][k] for k in system}}
            self._admit(new)
            if "status" in old:
                new["status"] = old["status"]
            if new == old:
                return copy.deepcopy(old)  # nothing to write: no new version, no reconcile
            self._mode(new)
            if new.get("spec") != old.get("spec"):
                new["metadata"]["generation"] += 1
            new["metadata"]["resourceVersion"] = self._next_version()
            stored.obj = new
            written = copy.deepcopy(new)
            self._reconcile(stored)
            return written

    def event(self, isvc: dict, reason: str, message: str, warning: bool = False) -> None:
        with self._lock:
            meta = isvc["metadata"]
            namespace, name = meta["namespace"], meta["name"]
            self.calls.append(("event", namespace, name))
            stored = self._objects.get((namespace, name))
            assert stored is not None, f"an Event about {namespace}/{name}, which does not exist"
            uid = stored.obj["metadata"]["uid"]
            assert meta.get("uid") in (None, uid), f"an Event about an older {namespace}/{name}"
            now = _now()
            self.events.append(
                {
                    "involvedObject": {
                        "apiVersion": API_VERSION,
                        "kind": KIND,
                        "name": name,
                        "namespace": namespace,
                        "uid": meta.get("uid"),
                    },
                    "reason": reason,
                    "message": message[:1024],
                    "type": "Warning" if warning else "Normal",
                    "source": {"component": COMPONENT},
                    "reportingComponent": COMPONENT,
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                }
            )

    # What a test steers and reads

    def release(
        self, namespace: str, name: str, fail: str | None = None, component: str | None = None
    ) -> list[str]:
        """The object's waiting revisions (of `component`, or all) come up, or with `fail`
        fail with that message; KServe then reconciles. Returns the revisions released."""
        with self._lock:
            stored = self._stored(namespace, name)
            released = []
            for kind, service in stored.services.items():
                for revision in service.revisions:
                    if revision.state == "pending" and component in (None, kind):
                        self._settle(revision, fail)
                        released.append(revision.name)
            self._reconcile(stored)
            return released

    def traffic(
        self, namespace: str, name: str, component: str = "predictor"
    ) -> list[tuple[str, int]]:
        """(revision, percent) as the component's traffic is routed: the status' targets,
        those naming the same revision added up, in status order."""
        with self._lock:
            status = self._stored(namespace, name).obj.get("status") or {}
            shares: dict[str, int] = {}
            for target in (status.get("components") or {}).get(component, {}).get("traffic", []):
                revision = target["revisionName"]
                shares[revision] = shares.get(revision, 0) + target.get("percent", 0)
            return list(shares.items())

    def revisions(self, namespace: str, name: str, component: str = "predictor") -> list[Revision]:
        """The component's revisions, oldest first (copies)."""
        with self._lock:
            service = self._stored(namespace, name).services.get(component)
            return copy.deepcopy(service.revisions) if service else []

    def revision_spec(self, revision: str, namespace: str | None = None) -> dict:
        """What a revision serves: its component's spec (`spec.predictor` for a predictor
        revision) without `canaryTrafficPercent`. `namespace` tells apart revisions of the
        same name in two namespaces."""
        with self._lock:
            found = [
                r
                for (ns, _), stored in self._objects.items()
                if namespace in (None, ns)
                for service in stored.services.values()
                for r in service.revisions
                if r.name == revision
            ]
            if len(found) != 1:
                raise LookupError(f"{len(found)} revisions named {revision!r}")
            return copy.deepcopy(found[0].spec)

    # The API server

    def _stored(self, namespace: str, name: str) -> _Stored:
        stored = self._objects.get((namespace, name))
        if stored is None:
            raise NotFound(f'inferenceservices.serving.kserve.io "{name}" not found')
        return stored

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _admit(self, obj: dict) -> None:
        """Structural defaults, then the schema (strict) and what the server checks of
        metadata; a refusal raises and nothing is stored."""
        name = obj["metadata"].get("name", "")
        if isinstance(obj.get("spec"), dict):
            _defaulted(obj["spec"], crd_schema(KIND)["properties"]["spec"])
        problems = []
        for key in ("labels", "annotations"):
            value = obj["metadata"].get(key)
            if value is not None and not (
                isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
            ):
                problems.append(f"metadata.{key}: Invalid value: must be a map of strings")
        if not DNS_SUBDOMAIN.fullmatch(name) or len(name) > 253:
            problems.append(
                f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain'
            )
        unknown = []
        for error in validators()[0].iter_errors(obj):
            where = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "additionalProperties" and error.validator_value is False:
                declared = set(error.schema.get("properties", {}))
                unknown += [f"{where}.{k}".lstrip(".") for k in error.instance if k not in declared]
            else:
                shown = json.dumps(error.instance) if not isinstance(error.instance, dict) else "…"
                problems.append(f"{where}: Invalid value: {shown}: {error.message}")
        if unknown:
            fields = ", ".join(f'unknown field "{f}"' for f in sorted(unknown))
            raise BadRequest(f"strict decoding error: {fields}")
        if problems:
            raise Invalid(
                f'{KIND}.serving.kserve.io "{name}" is invalid: [' + ", ".join(problems) + "]"
            )

    @staticmethod
    def _mode(obj: dict) -> None:
        mode = (obj["metadata"].get("annotations") or {}).get(DEPLOYMENT_MODE, "Knative")
        if mode not in KNATIVE_MODES:
            raise NotImplementedError(f"{DEPLOYMENT_MODE}: {mode}: this fake models Knative mode")

    # KServe's controller and Knative Serving

    def _settle(self, revision: Revision, fail: str | None = None) -> None:
        fail = fail or (
            self.fail_when(revision.component, revision.spec) if self.fail_when else None
        )
        revision.state, revision.message = ("failed", fail) if fail else ("ready", "")

    def _reconcile(self, stored: _Stored) -> None:
        """KServe's and Knative's passes until neither changes anything, then one status
        write (a new resourceVersion) when the status changed."""
        before = stored.obj.get("status")
        status = copy.deepcopy(before) if before else {}
        now = _now()
        for _ in range(10):
            previous = copy.deepcopy(status)
            self._kserve_pass(stored, status, now)
            if status == previous:
                break
        else:
            raise AssertionError("KServe and Knative did not settle")
        if status != before:
            errors = list(validators()[1].iter_errors(status))
            assert not errors, f"the fake wrote a status the CRD refuses: {errors[0]}"
            stored.obj["status"] = status
            stored.obj["metadata"]["resourceVersion"] = self._next_version()

    def _kserve_pass(self, stored: _Stored, status: dict, now: str) -> None:
        """One InferenceService reconcile (`controller.go`): each component, then the cross
        component conditions, the ingress, and Ready."""
        obj = stored.obj
        meta, spec = obj["metadata"], obj["spec"]
        present = [c for c in COMPONENTS if c in spec]
        components = status.setdefault("components", {})
        for gone in [c for c in components if c not in present]:
            del components[gone]
            stored.services.pop(gone, None)
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        for component in present:
            component_spec = spec[component]
            state = components.setdefault(component, {})
            percent = component_spec.get("canaryTrafficPercent")
            if percent is not None and not 0 <= percent <= 100:
                _mark(
                    conditions,
                    CONDITIONS[component][0],
                    "False",
                    now,
                    "ReconcileFailed",
                    "fails to reconcile knative service: admission webhook "
                    '"validation.webhook.serving.knative.dev" denied the request: validation '
                    f"failed: expected 0 <= {percent} <= 100: spec.traffic[0].percent",
                )
                continue
            template = _template(meta, component, component_spec, self.off_revision_annotations)
            tagged = template["annotations"].get(TAG_ROUTING) == "true"
            traffic = _traffic(percent, state.get("latestRolledoutRevision"), tagged)
            service = stored.services.get(component)
            if service is None:
                named = component_spec.get("name") if component == "predictor" else None
                name = "-".join(filter(None, (meta["name"], named, component)))
                service = stored.services[component] = _KnativeService(name, template, traffic)
                self._new_revision(service, component, component_spec)
            else:
                changed = False
                if template != service.template:
                    service.template, changed = template, True
                    self._new_revision(service, component, component_spec)
                if traffic != service.traffic:
                    service.traffic, changed = traffic, True
                if changed:
                    service.generation += 1
            _propagate(status, conditions, component, _knative_status(service, meta), now)
        for kind, index in (("RoutesReady", 1), ("LatestDeploymentReady", 2)):
            _cross_component(conditions, kind, [CONDITIONS[c][index] for c in present], now)
        self._ingress(meta, status, conditions, present, now)
        _ready(conditions, now)
        status["conditions"] = [conditions[k] for k in sorted(conditions)]
        status["deploymentMode"] = "Knative"

    def _new_revision(self, service: _KnativeService, component: str, spec: dict) -> None:
        serves = {k: v for k, v in copy.deepcopy(spec).items() if k != "canaryTrafficPercent"}
        revision = Revision(f"{service.name}-{len(service.revisions) + 1:05d}", component, serves)
        if not self.hold_readiness:
            self._settle(revision)
        service.revisions.append(revision)

    @staticmethod
    def _ingress(meta: dict, status: dict, conditions: dict, present: list, now: str) -> None:
        """`ingress_reconciler.go` with Istio virtual hosts: not ready until the predictor
        (and a transformer) is, and True for good once the front component has had a URL."""
        state, reason = "True", ""
        for component in ("predictor", "transformer"):
            ready = conditions.get(CONDITIONS[component][0], {}).get("status", "Unknown")
            if component in present and ready != "True":
                state, reason = ready, f"{component.title()} ingress not created"
                break
        front = "transformer" if "transformer" in present else "predictor"
        if status["components"].get(front, {}).get("url"):
            host = f"{meta['name']}.{meta['namespace']}"
            status["url"] = f"http://{host}.{DOMAIN}"
            status["address"] = {"url": f"http://{host}.svc.cluster.local"}
            state, reason = "True", ""
        _mark(conditions, "IngressReady", state, now, reason)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: an object merges key by key, null removes the key, anything else (a list
    included) replaces the value whole."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _as_json(body: Any) -> dict:
    """The body as the API server receives it: through JSON, and an object."""
    data = json.loads(json.dumps(body))
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, not {type(data).__name__}")
    return data


def _check_kind(obj: dict) -> None:
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != KIND:
        raise BadRequest(
            f"the API version in the data ({obj.get('apiVersion')}) and kind "
            f"({obj.get('kind')}) do not match {API_VERSION} {KIND}"
        )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _defaulted(value: Any, schema: dict) -> None:
    """The CRD's `default`s where the object lacks the field, as the API server applies
    them."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties:
            for key, sub in properties.items():
                if key not in value and "default" in sub:
                    value[key] = copy.deepcopy(sub["default"])
            for key, item in value.items():
                if key in properties:
                    _defaulted(item, properties[key])
        elif isinstance(schema.get("additionalProperties"), dict):
            for item in value.values():
                _defaulted(item, schema["additionalProperties"])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            _defaulted(item, schema["items"])


def _template(meta: dict, component: str, spec: dict, off_annotations: frozenset) -> dict:
    """The Knative revision template KServe makes for a component: a change makes a new
    revision (`buildObjectMeta`, `createKnativeService`)."""
    annotations = {**(meta.get("annotations") or {}), **(spec.get("annotations") or {})}
    labels = {
        **(meta.get("labels") or {}),
        **(spec.get("labels") or {}),
        "serving.kserve.io/inferenceservice": meta["name"],
        "component": component,
    }
    return {
        "annotations": {k: v for k, v in annotations.items() if k not in off_annotations},
        "labels": {k: v for k, v in labels.items() if k not in OFF_REVISION_LABELS},
        "spec": {k: v for k, v in spec.items() if k != "canaryTrafficPercent"},
    }


def _traffic(percent: int | None, rolled_out: str | None, tagged: bool) -> list[dict]:
    """The Knative Service's spec.traffic (`createKnativeService`)."""
    latest: dict = {"latestRevision": True, "percent": 100}
    if tagged:
        latest["tag"] = "latest"
    if percent is None or not rolled_out:
        return [latest]
    latest["percent"] = percent
    targets = [latest]
    if percent < 100:
        targets.append(
            {
                "revisionName": rolled_out,
                "latestRevision": False,
                "percent": 100 - percent,
                "tag": "prev",
            }
        )
    return targets


def _knative_status(service: _KnativeService, meta: dict) -> dict:
    """The Knative Service's status once Knative has reconciled it."""
    latest = service.revisions[-1]
    if latest.state == "ready":
        service.latest_ready = latest.name
    host = f"{service.name}.{meta['namespace']}"
    traffic = []
    if service.latest_ready:
        for target in service.traffic:
            entry = {
                "revisionName": service.latest_ready
                if target["latestRevision"]
                else target["revisionName"],
                "latestRevision": target["latestRevision"],
                "percent": target["percent"],
            }
            if "tag" in target:
                entry |= {"tag": target["tag"], "url": f"http://{target['tag']}-{host}.{DOMAIN}"}
            traffic.append(entry)
    failed = f'Revision "{latest.name}" failed with message: {latest.message}.'
    configuration = {
        "ready": ("True", "", ""),
        "pending": ("Unknown", "", ""),
        "failed": ("False", "RevisionFailed", failed),
    }[latest.state]
    routes = ("True", "", "") if service.latest_ready else configuration
    ready = configuration if configuration[0] != "True" else routes
    return {
        "observedGeneration": service.generation,
        "latestCreatedRevisionName": latest.name,
        "latestReadyRevisionName": service.latest_ready or "",
        "traffic": traffic,
        "conditions": {"ConfigurationsReady": configuration, "RoutesReady": routes, "Ready": ready},
        "url": f"http://{host}.{DOMAIN}",
        "address": {"url": f"http://{host}.svc.cluster.local"},
    }


def _propagate(status: dict, conditions: dict, component: str, knative: dict, now: str) -> None:
    """`InferenceServiceStatus.PropagateStatus`, line by line."""
    spec = status["components"][component]
    latest_ready = knative["latestReadyRevisionName"]
    _put(spec, "latestCreatedRevision", knative["latestCreatedRevisionName"])
    by_revision: dict[str, int] = {}
    for target in knative["traffic"]:
        by_revision[target["revisionName"]] = (
            by_revision.get(target["revisionName"], 0) + target["percent"]
        )
    for target in knative["traffic"]:
        if target["revisionName"] == latest_ready and target["latestRevision"]:
            if spec.get("latestRolledoutRevision", "") != latest_ready:
                if target["percent"] == 100:  # track the last revision that's fully rolled out
                    _put(spec, "previousRolledoutRevision", spec.get("latestRolledoutRevision", ""))
                    _put(spec, "latestRolledoutRevision", latest_ready)
            elif latest_ready == knative["latestCreatedRevisionName"] and target["percent"] < 100:
                # rolled out with 100%, then rolled back
                if by_revision.get(target["revisionName"]) == 100 and spec.get(
                    "previousRolledoutRevision"
                ):
                    spec["latestRolledoutRevision"] = spec["previousRolledoutRevision"]
    _put(spec, "latestReadyRevision", latest_ready)
    ready, route, configuration = CONDITIONS[component]
    if knative["conditions"]["Ready"][0] == "True":
        spec["address"], spec["url"] = knative["address"], knative["url"]
    pairs = ((ready, "Ready"), (route, "RoutesReady"), (configuration, "ConfigurationsReady"))
    for kind, knative_kind in pairs:
        state, reason, message = knative["conditions"][knative_kind]
        _mark(conditions, kind, state, now, reason, message)
    _put(spec, "traffic", knative["traffic"])
    status["observedGeneration"] = knative["observedGeneration"]


def _put(spec: dict, key: str, value: Any) -> None:
    """A Go field with `omitempty`: an empty value is left out."""
    if value:
        spec[key] = value
    else:
        spec.pop(key, None)


def _mark(
    conditions: dict, kind: str, state: str, now: str, reason: str = "", message: str = ""
) -> None:
    """knative.dev/pkg's SetCondition: lastTransitionTime moves only with the status."""
    old = conditions.get(kind)
    condition = {"type": kind, "status": state}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    if kind not in ("Ready", *READY_DEPENDS_ON):
        condition["severity"] = "Info"
    same = old is not None and old["status"] == state
    condition["lastTransitionTime"] = old["lastTransitionTime"] if same else now
    conditions[kind] = condition


def _cross_component(conditions: dict, kind: str, parts: list[str], now: str) -> None:
    """`PropagateCrossComponentStatus`."""
    state, reason = "True", ""
    for part in parts:
        status = conditions.get(part, {}).get("status", "Unknown")
        if status != "True":
            state = "Unknown" if status == "Unknown" else "False"
            reason = f"{part} not ready"
    _mark(conditions, kind, state, now, reason)


def _ready(conditions: dict, now: str) -> None:
    """The living condition set: Ready is False when a dependent is, else Unknown when one
    is, else True; it carries that dependent's reason and message."""
    for wanted in ("False", "Unknown"):
        for part in READY_DEPENDS_ON:
            condition = conditions.get(part, {"status": "Unknown"})
            if condition["status"] == wanted:
                _mark(
                    conditions,
                    "Ready",
                    wanted,
                    now,
                    condition.get("reason", ""),
                    condition.get("message", ""),
                )
                return
    _mark(conditions, "Ready", "True", now)
