"""The trigger's HTTP API (FastAPI): two ways in, the audit log and the metrics out.

Answers: 200 with the decision for any request it understood, whether it started a run or
not (a cooldown is not an error, and Alertmanager must not retry it); 400 naming the field
for a body it cannot take; 502 when the run could not be started, which Alertmanager retries."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipelines.trigger.audit import Entry
from pipelines.trigger.bodies import DRIFT_ALERT, AlertmanagerWebhook, DriftCall
from pipelines.trigger.policy import Trigger

DRIFT_SOURCE = "drift"
ALERTMANAGER_SOURCE = "alertmanager"


def create_app(trigger: Trigger) -> FastAPI:
    app = FastAPI(title="sluice retrain trigger", docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def bad_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        """A 400 naming each field and what is wrong with it (FastAPI's default is a 422)."""
        trigger.metrics.refused.labels(reason="bad-request").inc()
        problems = [
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors()
        ]
        return JSONResponse({"error": "; ".join(problems)}, status_code=400)

    @app.post("/v1/drift")
    def drift(call: DriftCall) -> JSONResponse:
        reason = f"drift in {', '.join(call.features)}: {call.reason}"
        return _answer(
            trigger.request(DRIFT_SOURCE, call.model_version, call.model_version, reason)
        )

    @app.post("/v1/alertmanager")
    def alertmanager(hook: AlertmanagerWebhook) -> JSONResponse:
        firing = hook.drift_firing()
        if not firing:
            names = sorted({a.labels.get("alertname", "?") for a in hook.alerts})
            why = f"{hook.status} webhook with no firing {DRIFT_ALERT} (alerts: {', '.join(names)})"
            return _answer(trigger.ignore(ALERTMANAGER_SOURCE, hook.groupKey, "", why))
        versions = sorted({a.labels.get("model_version", "") for a in firing} - {""})
        reason = f"{DRIFT_ALERT} firing for model version {', '.join(versions) or 'unknown'}"
        entry = trigger.request(ALERTMANAGER_SOURCE, hook.groupKey, ",".join(versions), reason)
        return _answer(entry)

    @app.get("/v1/audit")
    def audit(limit: int = 1000) -> PlainTextResponse:
        """The audit log as JSON lines, oldest first."""
        lines = [e.json_line() for e in trigger.audit.entries(max(1, min(limit, 10_000)))]
        return PlainTextResponse(
            "".join(f"{line}\n" for line in lines), media_type="application/x-ndjson"
        )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(trigger.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _answer(entry: Entry) -> JSONResponse:
    body = {"decision": entry.decision, "run_id": entry.run_id, "detail": entry.detail}
    return JSONResponse(body, status_code=502 if entry.decision == "failed" else 200)
