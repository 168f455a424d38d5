"""Canary rollouts against real model servers and a real Prometheus, with only Kubernetes
faked: what the rollout scenarios (tests/integration/test_rollout.py) and the rollout
benchmark share.

- Five registered versions of the model, each served by its own sluice model server:
  the stable one; a good canary (the same network, registered again, as a retrain that
  changed nothing); a canary that answers errors (served with a request-row limit its
  callers exceed: every request is refused); a slow canary (a far bigger network); and a
  canary whose scores shift (a network barely trained, whose scores sit near 0.5).
- Debian's Prometheus scrapes every server each second, with the labels the chart's
  PodMonitor puts on a cluster's series.
- A traffic splitter stands in for Knative's router: each request goes to a revision with
  the probability that its share of the fake InferenceService's traffic gives, to the
  server for the storage URI that revision serves.
- A load generator sends 4-flight v1 requests through the splitter from a few threads.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pandas as pd

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME
from components.base.registry import CHAMPION, PREVIOUS, alias_version, client, storage_uri
from components.base.splits import TimeSplit
from components.evaluate import GateConfig
from components.evaluate import run as evaluate
from components.flights.schema import TIMEZONE
from components.register import run as register
from components.rollout import RolloutConfig, RolloutResult, run
from components.rollout.analysis import Thresholds
from components.rollout.isvc import MODEL_VERSION_LABEL, STORAGE_URI_ENV
from components.rollout.isvc import storage_uri as served_uri
from components.train import TrainParams
from components.train import run as train
from serving.process import Server, free_port, model_server
from tests.kserve_fake import FakeInferenceServices
from tests.services import prometheus_server

NAMESPACE, NAME = "sluice", "sluice-flights"
SERIES_LABELS = {
    "namespace": NAMESPACE,
    "serving_kserve_io_inferenceservice": NAME,
    "component": "predictor",
}
"""What the chart's PodMonitor copies onto every series on a cluster."""
ROWS_PER_REQUEST = 4
SHORT_SPLIT = TimeSplit(TIMEZONE, "2013-01-04", "2013-01-06")
"""Three days to train on: enough for a real network, quick for a big one."""
SCENARIOS = ("good", "errors", "slow", "shifted")
SHORT = RolloutConfig(
    name=NAME,
    namespace=NAMESPACE,
    steps=(20, 50, 100),
    interval_s=8.0,
    threshold=2,
    deadline_s=60.0,
    query_step_s=1.0,
    rate_window_s=3.0,
    poll_s=0.5,
    ready_timeout_s=20.0,
    lease_s=5.0,
    limits=Thresholds(min_requests=60, min_latency_increase_s=0.002),
)
"""Short intervals: each scenario within the test's 90 s."""
CONFIGS = {
    "slow": replace(SHORT, limits=replace(SHORT.limits, max_psi=math.inf)),
}
"""The big network's scores differ from the stable's too (it is trained for one epoch on
three days): with the score check relaxed, its latency alone must roll it back."""


@dataclass
class Served:
    version: str
    uri: str
    server: Server


@dataclass
class Outcome:
    result: RolloutResult
    seconds: float
    record: Path
    fake: FakeInferenceServices
    aliases_before: dict
    aliases_after: dict
    routed: Counter = field(default_factory=Counter)
    answers: Counter = field(default_factory=Counter)


def _aliases(tracking_uri: str) -> dict:
    mlflow_client = client(tracking_uri)
    found = {a: alias_version(mlflow_client, a) for a in (CHAMPION, PREVIOUS)}
    return {a: str(v.version) for a, v in found.items() if v is not None}


class Splitter:
    """Knative's router, as far as a canary goes: a request goes to the newest revision
    with its traffic share's probability, else to the previous one."""

    def __init__(self, fake: FakeInferenceServices, servers: dict[str, str]):
        self.fake, self.servers = fake, servers
        self.routed: Counter = Counter()
        self.http = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64))
        splitter = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                target = splitter.pick()
                answer = splitter.http.post(
                    f"{target}{self.path}",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pick(self) -> str:
        traffic = self.fake.traffic(NAMESPACE, NAME)
        revisions = [r for r, share in traffic if share > 0]
        weights = [share for _, share in traffic if share > 0]
        revision = random.choices(revisions, weights)[0]
        uri = served_uri({"spec": {"predictor": self.fake.revision_spec(revision)}})
        self.routed[uri] += 1
        return self.servers[uri]

    def close(self) -> None:
        self.server.shutdown()
        self.http.close()


class Load:
    """Threads posting v1 requests through the splitter until stopped."""

    def __init__(self, url: str, rows: pd.DataFrame, threads: int = 6):
        self.url, self.answers = f"{url}/v1/models/{MODEL_NAME}:predict", Counter()
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        self.bodies = [
            json.dumps({"instances": records[i : i + ROWS_PER_REQUEST]})
            for i in range(0, len(records) - ROWS_PER_REQUEST + 1, ROWS_PER_REQUEST)
        ]
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._send, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _send(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stopping.is_set():
                body = random.choice(self.bodies)
                try:
                    status = http.post(
                        self.url, content=body, headers={"content-type": "application/json"}
                    ).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.answers[status] += 1

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(15)


class Harness:
    """Every version registered and served, and Prometheus scraping them."""

    def __init__(self, frame: Path, features: list[str], model_dir: Path, root: Path):
        self.frame, self.features, self.model_dir, self.root = frame, features, model_dir, root
        self.tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
        self.env = {"MLFLOW_TRACKING_URI": self.tracking_uri, "SLUICE_HOME": str(root / "home")}
        self.stack = ExitStack()
        self.served: dict[str, Served] = {}

    def _train(self, name: str, params: TrainParams) -> Path:
        out = self.root / name
        train(self.frame, self.features, out / "model", out / "ray", name, params)
        return out / "model"

    def _register(self, name: str, model_dir: Path) -> tuple[str, str]:
        evaluation = evaluate(
            self.frame, model_dir, self.root / f"{name}.html", GateConfig(min_auc=0.0)
        )
        result = register(
            model_dir=model_dir,
            evaluation=evaluation.to_dict(),
            tracking_uri=self.tracking_uri,
            pipeline_run_id=f"rollout-{name}",
            lineage={"data_version": name},
            artifact_root=(self.root / "artifacts").as_uri(),
        )
        return result.version, storage_uri(client(self.tracking_uri), result.version)

    def __enter__(self) -> Harness:
        import os

        quick = {"launcher": "single-process", "split": SHORT_SPLIT}
        models = {
            "stable": self.model_dir,
            "good": self.model_dir,
            "errors": self.model_dir,
            "slow": self._train("slow", TrainParams(epochs=1, hidden=(2048, 2048, 2048), **quick)),
            "shifted": self._train("shifted", TrainParams(epochs=1, lr=1e-6, **quick)),
        }
        flags = {"errors": ("--max_request_rows", str(ROWS_PER_REQUEST - 1))}
        env = {**os.environ, **self.env}
        try:
            for name, model_dir in models.items():
                version, uri = self._register(name, model_dir)
                server = self.stack.enter_context(
                    model_server(
                        "--model_uri",
                        f"models:/{MODEL_NAME}/{version}",
                        *flags.get(name, ()),
                        env=env,
                    )
                )
                self.served[name] = Served(version, uri, server)
            targets = {
                s.server.http.removeprefix("http://"): SERIES_LABELS for s in self.served.values()
            }
            self.prometheus = self.stack.enter_context(prometheus_server(targets))
        except BaseException:
            self.stack.close()
            raise
        self.rows = pd.read_parquet(self.frame).tail(256)[
            ModelArtifact(self.model_dir).layout.features
        ]
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    def stable_isvc(self, template: dict) -> dict:
        """The chart's InferenceService, serving the stable version."""
        stable = self.served["stable"]
        body = json.loads(json.dumps(template))
        body["metadata"].update(name=NAME, namespace=NAMESPACE)
        predictor = body["spec"]["predictor"]
        predictor.setdefault("labels", {})[MODEL_VERSION_LABEL] = stable.version
        for container in predictor["containers"]:
            for env in container.get("env", []):
                if env["name"] == STORAGE_URI_ENV:
                    env["value"] = stable.uri
        return body

    def rollout(self, scenario: str, template: dict) -> Outcome:
        """Roll the scenario's canary out over the stable version, under load."""
        config = CONFIGS.get(scenario, SHORT)
        client(self.tracking_uri).set_registered_model_alias(
            MODEL_NAME, CHAMPION, self.served["stable"].version
        )
        fake = FakeInferenceServices()
        fake.create(NAMESPACE, self.stable_isvc(template))
        servers = {s.uri: s.server.http for s in self.served.values()}
        splitter = Splitter(fake, servers)
        load = Load(splitter.url, self.rows)
        canary = self.served[scenario]
        before = _aliases(self.tracking_uri)
        record = self.root / "records" / scenario
        started = time.monotonic()
        try:
            result = run(
                canary.version,
                canary.uri,
                config,
                self.prometheus,
                self.tracking_uri,
                record,
                kube=fake,
            )
        finally:
            seconds = time.monotonic() - started
            load.stop()
            splitter.close()
        return Outcome(
            result,
            seconds,
            record,
            fake,
            before,
            _aliases(self.tracking_uri),
            splitter.routed,
            load.answers,
        )
