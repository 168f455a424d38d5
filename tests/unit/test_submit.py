"""`sluice submit` and `sluice schedule` against the fake KFP API server (`tests/kfp_fake.py`),
run as the user runs them: `python -m pipelines.cli` in a subprocess."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import kfp
import pytest

from components.base.settings import PACKAGE_VERSION, Settings
from pipelines import submit as kfp_submit
from tests.kfp_fake import KfpFake

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipelines" / "compiled" / "training.yaml"
TOKEN = "tok-3f9a8c1e5b7d"


@pytest.fixture(autouse=True)
def _own_kfp_settings(tmp_path, monkeypatch):
    """In this process, kfp.Client reads its context file from a home of the test's own,
    and the settings come from the test alone."""
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "context.json"))
    for name in [n for n in os.environ if n.startswith(("SLUICE_KFP", "KF_PIPELINES"))]:
        monkeypatch.delenv(name)


def sluice(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """The CLI with only the given KFP settings, and a home of its own: kfp reads (and in
    multi-user mode writes) ~/.config/kfp/context.json."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLUICE_", "KF_"))}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**clean, "HOME": str(home), "SLUICE_HOME": str(home / ".sluice"), **env},
    )


def sent(fake: KfpFake, method: str, path: str) -> list[dict]:
    """The JSON bodies KFP received on one endpoint, as they came over the wire."""
    return [json.loads(r.body) for r in fake.requests if (r.method, r.path) == (method, path)]


def error_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    return line


def test_a_first_submit_uploads_the_pipeline_and_runs_it_with_typed_params(tmp_path):
    with KfpFake() as fake:
        done = sluice(
            tmp_path,
            "submit",
            "--param",
            "epochs=3",
            "--param",
            "min_auc=0.7",
            "--param",
            "train_end=2013-07-01",
            KF_PIPELINES_ENDPOINT=fake.url,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    (pipeline,) = fake.pipelines.values()
    assert pipeline.name == "sluice-training"
    (run_body,) = sent(fake, "POST", "/apis/v2beta1/runs")
    parameters = run_body["runtime_config"]["parameters"]
    assert parameters == {"epochs": 3, "min_auc": 0.7, "train_end": "2013-07-01"}
    assert [type(v) for v in parameters.values()] == [int, float, str]
    (run,) = fake.runs.values()
    assert fake.experiments[run.experiment_id].display_name == "sluice"
    version = fake.versions[run.pipeline_version_reference.pipeline_version_id]
    assert version.pipeline_id == pipeline.pipeline_id
    assert re.fullmatch(rf"{re.escape(PACKAGE_VERSION)}-\d{{8}}T\d{{6}}\.\d{{3}}Z", version.name)
    assert run.run_id in done.stdout
    assert f"{fake.url}/#/runs/details/{run.run_id}" in done.stdout


def test_a_second_submit_adds_a_version_to_the_same_pipeline(tmp_path):
    with KfpFake() as fake:
        first = sluice(tmp_path, "submit", KF_PIPELINES_ENDPOINT=fake.url)
        second = sluice(tmp_path, "submit", "--version-name", "v2", KF_PIPELINES_ENDPOINT=fake.url)
    assert first.returncode == 0 and second.returncode == 0, second.stdout + second.stderr
    assert len(fake.pipelines) == 1 and len(fake.experiments) == 1
    assert [r.path for r in fake.requests].count("/apis/v2beta1/pipelines/upload") == 1
    versions = sorted(v.name for v in fake.versions.values())
    assert len(versions) == 3 and "v2" in versions  # KFP's first, and one per submit
    last_run = list(fake.runs.values())[-1]
    assert fake.versions[last_run.pipeline_version_id].name == "v2"


def test_no_run_uploads_the_version_and_starts_nothing(tmp_path):
    """What CI does on main: the compiled pipeline as a new version, no run."""
    with KfpFake() as fake:
        done = sluice(
            tmp_path,
            "submit",
            "--no-run",
            "--version-name",
            "abc123",
            KF_PIPELINES_ENDPOINT=fake.url,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "abc123" in {v.name for v in fake.versions.values()}
    assert fake.runs == {} and sent(fake, "POST", "/apis/v2beta1/runs") == []


def test_schedule_creates_a_recurring_run_on_the_uploaded_version(tmp_path):
    with KfpFake() as fake:
        done = sluice(
            tmp_path,
            "schedule",
            "--cron",
            "0 0 9 * * MON-FRI",
            "--max-concurrency",
            "3",
            "--param",
            "epochs=2",
            KF_PIPELINES_ENDPOINT=fake.url,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    (body,) = sent(fake, "POST", "/apis/v2beta1/recurringruns")
    assert body["trigger"] == {"cron_schedule": {"cron": "0 0 9 * * MON-FRI"}}
    assert body["max_concurrency"] == 3 and body["no_catchup"] is True
    assert body["mode"] == "ENABLE"
    assert body["runtime_config"]["parameters"] == {"epochs": 2}
    (recurring,) = fake.recurring_runs.values()
    assert fake.versions[recurring.pipeline_version_id].name != "sluice-training"  # ours
    assert f"{fake.url}/#/recurringrun/details/{recurring.recurring_run_id}" in done.stdout
    assert not fake.runs


def test_catchup_is_sent_as_kfp_names_it():
    with KfpFake() as fake:
        settings = Settings(KF_PIPELINES_ENDPOINT=fake.url)
        client = kfp_submit.connect(settings)
        ids = kfp_submit.upload(client, PACKAGE, "sluice-training", "v1")
        kfp_submit.schedule(client, "sluice", "nightly", *ids, {}, "0 0 2 * * *", catchup=True)
    (body,) = sent(fake, "POST", "/apis/v2beta1/recurringruns")
    assert body["no_catchup"] is False and body["max_concurrency"] == 1


@pytest.mark.parametrize("cron", ["0 9 * * 1", "0 0 9 * * MON-FRI 2027"])
def test_a_cron_without_six_fields_is_refused_before_any_request(tmp_path, cron):
    with KfpFake() as fake:
        done = sluice(tmp_path, "schedule", "--cron", cron, KF_PIPELINES_ENDPOINT=fake.url)
    assert done.returncode == 2
    line = error_line(done)
    assert "--cron" in line and "6, seconds first" in line
    assert fake.requests == []


@pytest.mark.parametrize("via", ["token file", "SLUICE_KFP_TOKEN"])
def test_the_token_reaches_kfp_as_a_bearer_header_and_is_never_printed(tmp_path, via):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    env = (
        {"KF_PIPELINES_SA_TOKEN_PATH": str(token_file)}
        if via == "token file"
        else {"SLUICE_KFP_TOKEN": TOKEN}
    )
    with KfpFake(token=TOKEN) as fake:
        done = sluice(tmp_path, "submit", KF_PIPELINES_ENDPOINT=fake.url, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert fake.requests and fake.runs
    assert {r.headers.get("authorization") for r in fake.requests} == {f"Bearer {TOKEN}"}
    assert TOKEN not in done.stdout + done.stderr


def test_the_token_setting_wins_over_the_token_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-the-file")
    with KfpFake(token=TOKEN) as fake:
        kfp_submit.connect(
            Settings(
                KF_PIPELINES_ENDPOINT=fake.url,
                KF_PIPELINES_SA_TOKEN_PATH=token_file,
                kfp_token=TOKEN,
            )
        )
    assert fake.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in repr(Settings(kfp_token=TOKEN))


@pytest.mark.parametrize(
    ("env", "hint"),
    [
        ({"SLUICE_KFP_TOKEN": "wrong-8d2c4e"}, "check the token in SLUICE_KFP_TOKEN"),
        ({}, "no token is set"),
    ],
)
def test_a_refused_credential_is_one_clear_line_and_a_failure(tmp_path, env, hint):
    with KfpFake(token=TOKEN) as fake:
        started = time.monotonic()
        done = sluice(tmp_path, "submit", KF_PIPELINES_ENDPOINT=fake.url, **env)
        seconds = time.monotonic() - started
    assert done.returncode == 1
    line = error_line(done)
    assert f"KFP at {fake.url} refused the credential (401)" in line and hint in line
    assert "wrong-8d2c4e" not in done.stdout + done.stderr and TOKEN not in done.stdout
    assert len(fake.requests) == 1  # the health probe, tried once (kfp: 5 tries, 25 s)
    assert seconds < 15
    assert not fake.pipelines


def test_an_unreachable_endpoint_is_named_in_one_line(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{probe.getsockname()[1]}"  # closed once the block ends
    done = sluice(tmp_path, "submit", KF_PIPELINES_ENDPOINT=endpoint)
    assert done.returncode == 1
    line = error_line(done)
    assert f"KFP at {endpoint} cannot be reached" in line and "Connection refused" in line


def test_a_missing_package_is_refused_before_any_request(tmp_path):
    missing = tmp_path / "nowhere.yaml"
    with KfpFake() as fake:
        done = sluice(tmp_path, "submit", "--package", str(missing), KF_PIPELINES_ENDPOINT=fake.url)
    assert done.returncode == 2
    line = error_line(done)
    assert str(missing) in line and "not found" in line and "sluice compile" in line
    assert fake.requests == []


def test_a_pipeline_id_kfp_does_not_know_is_a_clear_error(tmp_path):
    with KfpFake() as fake:
        done = sluice(tmp_path, "submit", "--pipeline-id", "p-404", KF_PIPELINES_ENDPOINT=fake.url)
    assert done.returncode == 1
    line = error_line(done)
    assert f"KFP at {fake.url} answered 404 Not Found" in line and "p-404" in line
    assert not fake.versions and not fake.runs


def test_kfp_refusing_a_parameter_is_reported_with_its_reason():
    with KfpFake() as fake:
        settings = Settings(KF_PIPELINES_ENDPOINT=fake.url)
        with pytest.raises(kfp_submit.KfpError) as refused, kfp_submit.kfp_errors(settings):
            client = kfp_submit.connect(settings)
            ids = kfp_submit.upload(client, PACKAGE, "sluice-training", "v1")
            kfp_submit.submit_run(client, "sluice", "run", *ids, {"epochs": "three", "bogus": 1})
    assert f"KFP at {fake.url} answered 400 Bad Request" in str(refused.value)
    assert "epochs" in str(refused.value) and not fake.runs


@pytest.mark.parametrize("cron", ["0 0 9 * * MON-FRI", "0 */15 * * * *", " 0  0 9 ? * 2-6 "])
def test_six_field_crons_pass(cron):
    assert len(kfp_submit.check_cron(cron).split(" ")) == 6


def test_a_version_name_says_the_package_version_and_the_utc_time():
    at = datetime(2026, 12, 4, 10, 15, 0, 123456, tzinfo=UTC)
    assert kfp_submit.version_name(at) == f"{PACKAGE_VERSION}-20261204T101500.123Z"


def _post(url: str, body: dict | bytes, content_type: str = "application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"display_name": "r", "experiment_id": "e", "parameters": {}}, "unknown field"),
        ({"display_name": 5}, "display_name must be a JSON str"),
        ({"display_name": "r", "storage_state": "GONE"}, "must be one of"),
        ({"display_name": "r", "runtime_config": {"params": {}}}, "unknown field 'params'"),
    ],
)
def test_the_fake_refuses_a_body_its_model_does_not_fit(body, said):
    with KfpFake() as fake:
        status, answer = _post(f"{fake.url}/apis/v2beta1/runs", body)
    assert status == 400 and said in answer["message"] and answer["code"] == 3
    assert not fake.runs


def test_the_fake_takes_only_a_pipeline_spec_as_an_upload(tmp_path):
    boundary = "b0undary"
    yaml_text = "pipelineInfo: {name: x}\nroot: {}\nnot_a_spec_field: 1\n"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="uploadfile"; '
        f'filename="p.yaml"\r\nContent-Type: application/x-yaml\r\n\r\n{yaml_text}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    with KfpFake() as fake:
        status, answer = _post(
            f"{fake.url}/apis/v2beta1/pipelines/upload?name=x",
            body,
            f"multipart/form-data; boundary={boundary}",
        )
    assert status == 400 and "not_a_spec_field" in answer["error_message"]
    assert not fake.pipelines
