"""KServe's payload logger for a server run outside Kubernetes (`--logger_url`).

On a cluster the InferenceService's agent sidecar logs every call (`spec.predictor.logger`);
this sends the same CloudEvents, built with the CloudEvents SDK as KServe's agent builds them
(`pkg/logger`): binary mode, `Ce-Type` `org.kubeflow.serving.inference.request` or
`.response`, the caller's `Ce-Id` or a new UUID shared by both, `time` when the request
came or the response left, the extensions `recordedtime`, `inferenceservicename`,
`namespace`, `component`, `endpoint` and `metadata`, and the raw request or response body.
As the agent does, it reads the whole request and queues its event before the model sees
the call, and a response goes out only for a 200. Like the agent, it buffers 100 events for
5 senders, and a full buffer holds the call back until there is room.

It differs in one way: it logs only inference calls (`:predict`, `/infer`), not the
health and metadata routes."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from prometheus_client import Counter

from components.base.masking import masked
from serving.drift.events import REQUEST_TYPE, RESPONSE_TYPE

QUEUE_SIZE, SENDERS = 100, 5
"""KServe's agent: `LoggerWorkerQueueSize` and its default worker count."""
MODES = ("all", "request", "response")
INFERENCE_PATH = re.compile(r"^/(v1/models/[^/]+:predict|v2/models/[^/]+(/versions/[^/]+)?/infer)$")

log = logging.getLogger("sluice.payload_logger")
FAILED = Counter(
    "sluice_payload_log_failures",
    "Logger events the sink did not accept (or could not be reached for).",
)


@dataclass(frozen=True)
class LoggerConfig:
    url: str
    mode: str = "all"
    inference_service: str = "sluice-flights"
    namespace: str = "default"
    component: str = "predictor"
    source: str = "http://localhost:8080/"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"logger mode {self.mode!r}: one of {', '.join(MODES)}")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"logger url {masked(self.url)!r}: starts with http:// or https://")


class PayloadLogger:
    def __init__(self, config: LoggerConfig):
        self.config = config
        self._where = masked(config.url)
        self._queue: asyncio.Queue | None = None
        self._client: httpx.AsyncClient | None = None
        self._senders: list[asyncio.Task] = []

    async def log(
        self, kind: str, event_id: str, body: bytes, content_type: str, at: datetime
    ) -> None:
        if self._queue is None:  # on the server's loop, at its first call
            self._queue = asyncio.Queue(QUEUE_SIZE)
            self._client = httpx.AsyncClient(timeout=10.0)
            self._senders = [asyncio.create_task(self._send()) for _ in range(SENDERS)]
        c = self.config
        attributes = {
            "type": kind,
            "source": c.source,
            "id": event_id,
            "time": at.isoformat(),
            "datacontenttype": content_type or "application/json",
            "inferenceservicename": c.inference_service,
            "namespace": c.namespace,
            "component": c.component,
            "endpoint": "",
            "metadata": "{}",
            "recordedtime": datetime.now(UTC).isoformat(),
        }
        await self._queue.put(CloudEvent(attributes, body))

    def logs(self, kind: str) -> bool:
        return self.config.mode in ("all", "request" if kind == REQUEST_TYPE else "response")

    async def _send(self) -> None:
        assert self._queue is not None and self._client is not None
        while True:
            event = await self._queue.get()
            try:
                headers, body = to_binary(event, data_marshaller=_as_is)
                answer = await self._client.post(self.config.url, headers=headers, content=body)
                if answer.status_code >= 300:
                    FAILED.inc()
                    log.warning("payload logger: %s answered %d", self._where, answer.status_code)
            except Exception as exc:  # a sender must outlive any failure, or the buffer fills
                FAILED.inc()
                log.warning("payload logger: %s: %s", self._where, type(exc).__name__)
            finally:
                self._queue.task_done()


def _as_is(body: bytes) -> bytes:
    return body


class PayloadLoggerMiddleware:
    """ASGI: tees an inference call's request and response bodies to the logger."""

    def __init__(self, app, logger: PayloadLogger):
        self.app = app
        self.logger = logger

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not INFERENCE_PATH.match(scope["path"])
        ):
            return await self.app(scope, receive, send)
        requested = datetime.now(UTC)
        chunks, more = [], True
        while more:  # the whole request first, as the agent reads it
            message = await receive()
            if message["type"] != "http.request":
                return  # the caller went away
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        event_id = headers.get("ce-id") or str(uuid.uuid4())
        content_type = headers.get("content-type", "")
        if self.logger.logs(REQUEST_TYPE):
            await self.logger.log(REQUEST_TYPE, event_id, body, content_type, requested)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        sent: list[bytes] = []
        status = 0

        async def tee_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent.append(message.get("body", b""))
            await send(message)

        await self.app(scope, replay, tee_send)
        if status == 200 and self.logger.logs(RESPONSE_TYPE):
            answered = datetime.now(UTC)
            await self.logger.log(RESPONSE_TYPE, event_id, b"".join(sent), content_type, answered)


def install(config: LoggerConfig) -> None:
    """Before the server starts: KServe's REST server serves this module-level app."""
    from kserve.model_server import app

    app.add_middleware(PayloadLoggerMiddleware, logger=PayloadLogger(config))
