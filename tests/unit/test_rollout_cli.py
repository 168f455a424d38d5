"""`sluice rollout` against a recording API server on loopback (the grants test's): the dry
run reads and changes nothing, a running rollout is named, bad parameters are one line."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from components.rollout.isvc import with_model
from components.rollout.state import LEASE, Lease
from pipelines.cli import app
from tests.delivery.chart import by_kind, render
from tests.kube_api_server import NAME, ApiServer
from tests.unit.test_rollout_grants import NS, URI

NEW_URI = "s3://sluice/mlartifacts/1/models/m-2/artifacts"
runner = CliRunner()


def serving(server: ApiServer, annotations: dict | None = None) -> None:
    (template,) = by_kind(render(), "InferenceService")
    body = with_model(template, NAME, NS, URI, "1")
    body["metadata"]["resourceVersion"] = "1"
    body["metadata"].setdefault("annotations", {}).update(annotations or {})
    server.objects[(NS, NAME)] = body


def rollout(*args: str):
    return runner.invoke(app, ["rollout", *args], catch_exceptions=False)


def test_the_dry_run_prints_the_plan_and_only_reads(api_server):
    serving(api_server)
    done = rollout("2", "--storage-uri", NEW_URI, "--dry-run")
    assert done.exit_code == 0, done.output
    plan = json.loads(done.output)
    assert plan["action"] == "canary"
    assert plan["current"]["storage_uri"] == URI and plan["current"]["model_version"] == "1"
    predictor = plan["first_patch"]["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["labels"] == {"sluice.io/model-version": "2"}
    assert [
        e["value"] for c in predictor["containers"] for e in c["env"] if e["name"] == "STORAGE_URI"
    ] == [NEW_URI]
    assert (plan["rollback_within_s"], plan["promotion_within_s"]) == (900.0, 1200.0)
    assert {r.method for r in api_server.requests} == {"GET"}


def test_a_running_rollout_is_named_and_nothing_changes(api_server):
    lease = Lease("ci/runner-7", "3", time.time()).to_annotation()
    serving(api_server, {LEASE: lease})
    done = rollout("2", "--storage-uri", NEW_URI, "--prometheus", "http://127.0.0.1:9")
    assert done.exit_code == 2
    assert "another rollout is running: ci/runner-7, rolling out version 3" in done.output
    assert {r.method for r in api_server.requests} == {"GET"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--steps", "10,5,100"], "strictly rising and ending at 100"),
        (["--steps", "10,50"], "strictly rising and ending at 100"),
        (["--threshold", "0"], "threshold 0: at least 1 failed check"),
        (["--interval", "0"], "interval_s 0.0: must be positive"),
    ],
)
def test_bad_parameters_are_one_line_and_exit_2(args, said):
    done = rollout("2", "--storage-uri", NEW_URI, *args)
    assert done.exit_code == 2
    assert said in done.output and "Traceback" not in done.output


def test_the_dry_run_says_a_running_rollout_would_refuse(api_server):
    serving(api_server, {LEASE: Lease("ci/runner-7", "3", time.time()).to_annotation()})
    done = rollout("2", "--storage-uri", NEW_URI, "--dry-run")
    plan = json.loads(done.output)
    assert plan["action"] == "refuse" and "ci/runner-7" in plan["why"]
    assert plan["first_patch"] is None
