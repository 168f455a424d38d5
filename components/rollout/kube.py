"""The one place sluice talks to the Kubernetes API server: InferenceServices and Events.

`InferenceServices` is what the rollout needs; `KubeInferenceServices` does it with the
`kubernetes` client. Tests put a faithful fake in its place (`tests/kserve_fake.py`). The
verbs used are `GRANTS`, which the chart's `sluice-rollout` Role grants and a test holds
equal to what this adapter sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
API_VERSION = f"{GROUP}/{VERSION}"
COMPONENT = "sluice-rollout"
"""The Events' reporting component."""
GRANTS = {
    (GROUP, PLURAL): ("get", "create", "patch"),
    ("", "events"): ("create",),
}
"""(API group, resource) → the verbs this adapter uses."""


class Conflict(Exception):
    """The object changed since it was read (its resourceVersion moved on): read it again."""


class KubeError(RuntimeError):
    """The API server refused a request (forbidden, invalid, already exists) or stayed
    unreachable; the message names the verb, the object and the server's reason."""


TRANSIENT = (429, 500, 502, 503, 504)
"""Statuses worth another try: throttled, or the API server briefly unwell."""


class InferenceServices(Protocol):
    def get(self, namespace: str, name: str) -> dict | None:
        """The object, or None when there is none."""

    def create(self, namespace: str, body: dict) -> dict: ...

    def patch(self, namespace: str, name: str, patch: dict) -> dict:
        """A JSON merge patch (RFC 7386: None removes a key, a list replaces the whole
        list). With `metadata.resourceVersion` in it, it applies only to that version of
        the object, else `Conflict`."""

    def event(self, isvc: dict, reason: str, message: str, warning: bool = False) -> None:
        """A Kubernetes Event about the object, as `kubectl describe` shows them."""


class KubeInferenceServices:
    """In a pod: its ServiceAccount; elsewhere: the current kubeconfig context."""

    def __init__(self) -> None:
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        self.custom = client.CustomObjectsApi()
        self.core = client.CoreV1Api()

    def _call(self, verb: str, what: str, action, missing_ok: bool = False):
        """`action()`, retried on transport errors and transient statuses; a refusal as a
        `KubeError` naming the verb and the object (409 on a patch: `Conflict`)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        from components.base.services import ServiceUnavailable, with_retries

        class Transient(Exception):
            pass

        def attempt():
            try:
                return action()
            except ApiException as exc:
                if exc.status in TRANSIENT:
                    raise Transient(f"{exc.status} {exc.reason}") from None
                raise

        try:
            return with_retries(
                "Kubernetes API server", what, attempt, retry_on=(Transient, HTTPError)
            )
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            if exc.status == 409 and verb == "patch":
                raise Conflict(f"{what} changed meanwhile") from None
            raise KubeError(f"{verb} {what}: {exc.status} {_reason(exc)}") from None
        except ServiceUnavailable as exc:
            raise KubeError(f"{verb} {what}: {exc}") from None

    def get(self, namespace: str, name: str) -> dict | None:
        return self._call(
            "get",
            f"{PLURAL}/{namespace}/{name}",
            lambda: self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            ),
            missing_ok=True,
        )

    def create(self, namespace: str, body: dict) -> dict:
        name = body.get("metadata", {}).get("name")
        return self._call(
            "create",
            f"{PLURAL}/{namespace}/{name}",
            lambda: self.custom.create_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, body
            ),
        )

    def patch(self, namespace: str, name: str, patch: dict) -> dict:
        return self._call(  # the client sends a dict as application/merge-patch+json
            "patch",
            f"{PLURAL}/{namespace}/{name}",
            lambda: self.custom.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, patch
            ),
        )

    def event(self, isvc: dict, reason: str, message: str, warning: bool = False) -> None:
        from kubernetes import client

        meta = isvc["metadata"]
        now = datetime.now(UTC)
        body = client.CoreV1Event(
            metadata=client.V1ObjectMeta(generate_name=f"{meta['name']}."),
            involved_object=client.V1ObjectReference(
                api_version=API_VERSION,
                kind="InferenceService",
                name=meta["name"],
                namespace=meta["namespace"],
                uid=meta.get("uid"),
            ),
            reason=reason,
            message=message[:1024],
            type="Warning" if warning else "Normal",
            source=client.V1EventSource(component=COMPONENT),
            reporting_component=COMPONENT,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        self._call(
            "create",
            f"events/{meta['namespace']}",
            lambda: self.core.create_namespaced_event(meta["namespace"], body),
        )


def _reason(exc) -> str:
    """The API server's own message (its Status body), else the HTTP reason."""
    import json

    try:
        return json.loads(exc.body).get("message") or exc.reason
    except (TypeError, ValueError):
        return str(exc.reason)
