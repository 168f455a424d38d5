"""The call to the retrain trigger (`sluice trigger serve`, POST /v1/drift), from the check
thread: a slow or absent trigger delays the next check, never ingestion."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import orjson

log = logging.getLogger("sluice.drift")


class TriggerClient:
    def __init__(self, url: str, timeout_s: float = 10.0):
        self.url = url.rstrip("/") + "/v1/drift"
        self.timeout_s = timeout_s

    def drift(self, model_version: str, features: list[str], reason: str) -> str:
        """The trigger's decision (`started`, `cooldown`, ...), or `failed`."""
        body = {"model_version": model_version, "features": features or ["score"], "reason": reason}
        request = urllib.request.Request(
            self.url,
            data=orjson.dumps(body),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                decision = orjson.loads(answer.read())["decision"]
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace")
            log.error("retrain trigger %s answered %s: %s", self.url, exc.code, detail)
            return "failed"
        except Exception as exc:  # unreachable, cut short, or an answer without a decision
            log.error("retrain trigger %s: %s: %s", self.url, type(exc).__name__, exc)
            return "failed"
        log.warning("retrain trigger: %s (model version %s)", decision, model_version)
        return str(decision)
