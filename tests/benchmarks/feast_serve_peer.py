"""The pattern of KServe's Feast transformer sample (kserve/kserve,
`docs/samples/v1beta1/transformer/feast`), on sluice's flights: the peer the online path is
measured against.

The sample runs Feast's own feature server (`feast -c REPO serve`) beside the
InferenceService, and a `kserve.Model` transformer whose synchronous `preprocess` posts, per
request, the request's entities and the feature references to the server's
`/get-online-features` (`full_feature_names: true`) with `requests`, builds the predictor's v1
`instances` from the JSON answer, and leaves `predict` to KServe, which calls
`--predictor_host` over REST v1; `postprocess` passes the answer through. This one does the
same, the request-time features derived by the function every sluice path uses, so its model
input equals sluice's (the benchmark checks the answers). Per-request logs are errors only, as
for every server in the benchmark (the sample logs each body at INFO), and the feature server
runs without its access log and without gunicorn's worker recycling (Feast's `--max-requests`
default, 1,000, restarts its one worker, registry load included, every few seconds under
load): these choices favour the peer.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import requests
from kserve import Model, ModelServer, model_server
from kserve import logging as kserve_logging

from components.flights.features import as_of_seconds, model_features, with_elapsed
from components.flights.request import ENTITY_KEYS, request_features, scheduled_departure
from serving import access_logs
from serving.process import free_port, stop, wait_ready

HEADERS = {"Content-type": "application/json", "Accept": "application/json"}


def feature_key(ref: str) -> str:
    """A reference's name in the server's answer with `full_feature_names`: `view__feature`."""
    return ref.replace(":", "__")


class FeastServerTransformer(Model):
    """The sample's `DriverTransformer`, for flights: one feature-server call per request."""

    def __init__(
        self, name: str, feast_serving_url: str, feature_refs: list[str], horizon: timedelta
    ):
        super().__init__(name)
        self.feast_serving_url = feast_serving_url
        self.feature_refs = feature_refs
        self.horizon = horizon
        self.features = model_features([ref.split(":", 1)[1] for ref in feature_refs])

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def build_entity_rows(self, inputs: dict) -> dict:
        return {key: [flight[key] for flight in inputs["instances"]] for key in ENTITY_KEYS}

    def build_predict_request(self, inputs: dict, features: dict) -> dict:
        """The model input from the request and the server's JSON answer, in model order;
        a missing value is null (JSON has no NaN)."""
        flights = inputs["instances"]
        names = features["metadata"]["feature_names"]
        online = {
            ref.split(":", 1)[1]: features["results"][names.index(feature_key(ref))]["values"]
            for ref in self.feature_refs
        }
        scheduled = [scheduled_departure(f["sched_dep_time"], i) for i, f in enumerate(flights)]
        derived = request_features(
            carrier=[f["carrier"] for f in flights],
            origin=[f["origin"] for f in flights],
            dest=[f["dest"] for f in flights],
            scheduled=scheduled,
            distance=[f["distance"] for f in flights],
        )
        columns = {name: values.tolist() for name, values in derived.items()}
        read_at = as_of_seconds([t.timestamp() for t in scheduled], self.horizon)
        elapsed = with_elapsed(online, read_at)
        for name, values in elapsed.items():
            columns[name] = [None if v is None or math.isnan(v) else float(v) for v in values]
        return {
            "instances": [
                {name: columns[name][row] for name in self.features} for row in range(len(flights))
            ]
        }

    def preprocess(self, inputs: dict, headers: dict | None = None) -> dict:
        params = {
            "features": self.feature_refs,
            "entities": self.build_entity_rows(inputs),
            "full_feature_names": True,
        }
        url = f"http://{self.feast_serving_url}/get-online-features"
        features = requests.post(url, data=json.dumps(params), headers=HEADERS).json()
        return self.build_predict_request(inputs, features)


@contextmanager
def feature_server(repo: Path, env: dict, prefix: tuple[str, ...] = (), timeout: float = 120):
    """`feast -c REPO serve` on a free loopback port, as the sample deploys it (one worker)
    but without the access log and worker recycling; its `host:port` and process once
    `/health` answers."""
    port = free_port()
    feast = Path(sys.executable).parent / "feast"
    command = [*prefix, str(feast), "-c", str(repo), "serve", "-h", "127.0.0.1", "-p", str(port)]
    command += ["--no-access-log", "--max-requests", "0"]
    log_path = repo / "feature_server.log"
    log = log_path.open("w")
    process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", process, log_path, timeout, "feast serve")
        yield f"127.0.0.1:{port}", process
    finally:
        stop(process, 10)
        log.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve")
    parser.add_argument("--feast_serving_url", required=True, help="the feature server's host:port")
    parser.add_argument("--feature_refs", nargs="+", required=True, help="view:feature, in order")
    parser.add_argument("--horizon_minutes", type=float, default=0.0)
    return parser


if __name__ == "__main__":
    args = build_parser().parse_args()
    model = FeastServerTransformer(
        args.model_name,
        args.feast_serving_url,
        args.feature_refs,
        timedelta(minutes=args.horizon_minutes),
    )
    model.load()
    if args.configure_logging:  # before `install`, which takes the access logger's handlers
        kserve_logging.configure_logging(args.log_config_file)
    access_logs.install(False)
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=1).start([model])
