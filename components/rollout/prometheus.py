"""What each version served in an interval, read from Prometheus's HTTP API.

The series are the model servers' own (`serving/metrics.py`), labelled by `model_version`,
and picked out by the labels the chart's PodMonitor copies from the pods: the namespace,
`serving_kserve_io_inferenceservice` and `component="predictor"`. The canary is its
version; the stable is every other version the predictor served meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx

from components.base.services import with_retries
from components.rollout.analysis import Sample


class PrometheusError(RuntimeError):
    """Prometheus answered, but not with data (a bad query, or an error status)."""


class ServerSideError(RuntimeError):
    """A 5xx: worth another try."""


@dataclass(frozen=True)
class Target:
    namespace: str
    inference_service: str

    def selector(self, version: str, canary: bool) -> str:
        match = "=" if canary else "!="
        return (
            f'namespace="{self.namespace}", '
            f'serving_kserve_io_inferenceservice="{self.inference_service}", '
            f'component="predictor", model_version{match}"{version}"'
        )


class Prometheus:
    def __init__(self, url: str, timeout_s: float = 10.0, attempts: int = 4):
        self.url, self.attempts = url.rstrip("/"), attempts
        self.http = httpx.Client(timeout=timeout_s)

    def _get(self, path: str, params: dict) -> list:
        """The result; a transport error or a 5xx (a restarting Prometheus, a proxy's 502)
        is retried, then `ServiceUnavailable`; any other answer that is not data is a
        `PrometheusError` naming the query."""

        def call() -> httpx.Response:
            answer = self.http.get(f"{self.url}{path}", params=params)
            if answer.status_code >= 500:
                raise ServerSideError(f"{answer.status_code} {answer.text[:200]}")
            return answer

        answer = with_retries(
            "Prometheus",
            self.url,
            call,
            retry_on=(httpx.HTTPError, ServerSideError),
            attempts=self.attempts,
        )
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(
                f"Prometheus {path} {params.get('query')!r}: {answer.status_code} "
                f"{body.get('errorType', '')} {body.get('error', answer.text[:200])}"
            )
        return body["data"]["result"]

    def instant(self, query: str, at: float) -> list:
        return self._get("/api/v1/query", {"query": query, "time": at})

    def series(self, query: str, start: float, end: float, step_s: float) -> list:
        return self._get(
            "/api/v1/query_range", {"query": query, "start": start, "end": end, "step": step_s}
        )

    def sample(
        self,
        target: Target,
        version: str,
        canary: bool,
        start: float,
        end: float,
        step_s: float,
        rate_window_s: float,
    ) -> Sample:
        """What the canary (`canary`) or the stable served between `start` and `end`."""
        sel = target.selector(version, canary)
        window = f"{max(round(end - start), 1)}s"
        outcomes = {
            r["metric"].get("outcome"): float(r["value"][1])
            for r in self.instant(
                f"sum by (outcome) (increase(sluice_requests_total{{{sel}}}[{window}]))", end
            )
        }
        requests = round(sum(v for v in outcomes.values() if math.isfinite(v)))
        errors = round(sum(v for k, v in outcomes.items() if k != "ok" and math.isfinite(v)))
        p99 = self.series(
            "histogram_quantile(0.99, sum by (le) "
            f"(rate(sluice_request_seconds_bucket{{{sel}}}[{round(rate_window_s)}s])))",
            start,
            end,
            step_s,
        )
        points = tuple(float(v) for r in p99 for _, v in r["values"])
        buckets = self.instant(
            f"sum by (le) (increase(sluice_prediction_score_bucket{{{sel}}}[{window}]))", end
        )
        return Sample(requests, errors, points, bucket_counts(buckets))


def bucket_counts(result: list) -> tuple[float, ...]:
    """Per-bucket counts from cumulative `le` buckets."""
    cumulative = sorted(
        (float(r["metric"]["le"]), float(r["value"][1])) for r in result if "le" in r["metric"]
    )
    counts, below = [], 0.0
    for _, total in cumulative:
        total = total if math.isfinite(total) else below
        counts.append(max(total - below, 0.0))
        below = max(total, below)
    return tuple(counts)
