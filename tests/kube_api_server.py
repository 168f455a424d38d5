"""A recording stand-in for the Kubernetes API server on loopback, for the real
`KubeInferenceServices`: it answers InferenceService get, create and merge patch (with the
resourceVersion precondition) and Event create as the API server does, and keeps every
request for the tests to read back as (API group, resource, verb)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult

import pytest
import yaml

from components.rollout.kube import GROUP, PLURAL
from tests.kserve_fake import merge_patch
from tests.loopback import Loopback

NAME, TOKEN = "sluice-flights", "rollout-token"

RESOURCE_PATH = re.compile(
    r"/(?:api/v1|apis/(?P<group>[^/]+)/[^/]+)/namespaces/(?P<namespace>[^/]+)"
    r"/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?"
)
"""A namespaced resource's path, core (`/api/v1`) or in a group (`/apis/GROUP/VERSION`)."""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """By lowercase name."""
    body: Any

    def access(self) -> tuple[str, str, str]:
        """(API group, resource, verb), as the API server's RequestInfoFactory reads it."""
        match = RESOURCE_PATH.fullmatch(self.path)
        assert match, f"not a namespaced resource: {self.method} {self.path}"
        named = match["name"] is not None
        verb = {
            "GET": "get" if named else "list",
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete" if named else "deletecollection",
        }[self.method]
        return match["group"] or "", match["resource"], verb


class ApiServer(Loopback):
    """Just enough of the API server for the adapter: InferenceServices (get, create, a
    merge patch with its resourceVersion precondition) and Events (create), every request
    kept in `requests`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.objects: dict[tuple[str, str], dict] = {}
        self.refuse_next: list[int] = []
        """Statuses to answer the next requests with, as a throttled (429), unwell (503) or
        forbidding (403) API server does."""
        self._version = 0
        super().__init__()

    def receive(
        self, method: str, url: SplitResult, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict]:
        return self.handle(Request(method, url.path, headers, json.loads(body) if body else None))

    def handle(self, request: Request) -> tuple[int, dict]:
        self.requests.append(request)
        if self.refuse_next:
            code = self.refuse_next.pop(0)
            reason = {403: "Forbidden", 429: "TooManyRequests"}.get(code, "ServiceUnavailable")
            return _status(code, reason, f"refused with {code} ({reason})")
        match = RESOURCE_PATH.fullmatch(request.path)
        if not match:
            return _status(404, "NotFound", "the server could not find the requested resource")
        namespace, resource, name = match["namespace"], match["resource"], match["name"]
        if resource == "events" and request.method == "POST":
            return 201, {**request.body, "metadata": {"name": f"{NAME}.{uuid.uuid4().hex[:16]}"}}
        if resource != PLURAL:
            return _status(404, "NotFound", f"no resource {resource}")
        key = (namespace, name or request.body.get("metadata", {}).get("name"))
        stored = self.objects.get(key)
        if request.method == "POST" and not name:
            if stored:
                return _status(409, "AlreadyExists", f'{PLURAL}.{GROUP} "{key[1]}" already exists')
            body = request.body
            body["metadata"] |= {"uid": str(uuid.uuid4()), "resourceVersion": self._next()}
            self.objects[key] = body
            return 201, body
        if stored is None:
            return _status(404, "NotFound", f'{PLURAL}.{GROUP} "{name}" not found')
        if request.method == "GET":
            return 200, stored
        if request.method == "PATCH":
            asked = (request.body.get("metadata") or {}).get("resourceVersion")
            if asked not in (None, stored["metadata"]["resourceVersion"]):
                return _status(409, "Conflict", "the object has been modified")
            patched = merge_patch(stored, request.body)
            patched["metadata"]["resourceVersion"] = self._next()
            self.objects[key] = patched
            return 200, patched
        return _status(405, "MethodNotAllowed", f"{request.method} is not allowed")

    def _next(self) -> str:
        self._version += 1
        return str(self._version)


def _status(code: int, reason: str, message: str) -> tuple[int, dict]:
    status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return code, status | {"message": message, "reason": reason, "code": code}


@pytest.fixture
def api_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """The server, and a kubeconfig whose current context is it, with a bearer token; no
    in-cluster ServiceAccount, so the adapter falls back to the kubeconfig."""
    from kubernetes import client
    from kubernetes.config import kube_config

    with ApiServer() as server:
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "loopback", "cluster": {"server": server.url}}],
            "users": [{"name": "rollout", "user": {"token": TOKEN}}],
            "contexts": [
                {"name": "loopback", "context": {"cluster": "loopback", "user": "rollout"}}
            ],
            "current-context": "loopback",
        }
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        monkeypatch.setenv("KUBECONFIG", str(path))
        # the client reads KUBECONFIG once, when it is first imported
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
        # load_kube_config sets the client's process-wide default; put it back afterwards
        monkeypatch.setattr(client.Configuration, "_default", None)
        yield server
