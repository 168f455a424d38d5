"""The MLServer peer's files and venv: what MLServer is started with, and how its venv is
built."""

import json
import sys
from pathlib import Path

import pytest

from tests.benchmarks import mlserver_peer
from tests.benchmarks.mlserver_peer import (
    ensure_venv,
    model_settings,
    requirements,
    server_settings,
    venv_commands,
    write_repository,
)


def test_the_venv_holds_mlserver_pinned_and_what_the_model_was_logged_with(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "# written by MLflow\nmlflow==3.17.2\n\nonnxruntime==1.32.0\n  pandas==2.3.3  \n"
    )
    assert requirements(tmp_path) == [
        "mlserver==1.7.1",
        "mlserver-mlflow==1.7.1",
        "uvloop<0.22",
        "mlflow==3.17.2",
        "onnxruntime==1.32.0",
        "pandas==2.3.3",
    ]


def test_the_venv_is_built_with_the_same_interpreter_then_pip(tmp_path):
    venv = tmp_path / ".venv-bench-mlserver"
    commands = venv_commands("/usr/bin/python3.11", venv, ["mlserver==1.7.1", "uvloop<0.22"])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    assert commands == [
        ["/usr/bin/python3.11", "-m", "venv", str(venv)],
        [*pip, "--upgrade", "pip"],
        [*pip, "mlserver==1.7.1", "uvloop<0.22"],
    ]


def test_a_venv_built_for_the_same_packages_is_kept(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-bench-mlserver").write_text("mlserver==1.7.1\nuvloop<0.22")
    (venv / "kept").write_text("")
    monkeypatch.setattr(mlserver_peer, "venv_commands", lambda *_: [["false"]])
    assert ensure_venv(["mlserver==1.7.1", "uvloop<0.22"], venv) == venv
    assert (venv / "kept").exists()


def test_a_venv_for_other_packages_is_rebuilt_and_a_failed_step_is_named(tmp_path, monkeypatch):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed-bench-mlserver").write_text("mlserver==1.6.0")
    (venv / "stale").write_text("")
    failing = [sys.executable, "-c", "import sys; sys.exit('no such package')"]
    monkeypatch.setattr(mlserver_peer, "venv_commands", lambda *_: [failing])
    with pytest.raises(RuntimeError, match="failed:\n.*no such package"):
        ensure_venv(["mlserver==1.7.1"], venv)
    assert not (venv / "stale").exists()
    assert not (venv / ".installed-bench-mlserver").exists()


def test_tuned_settings_run_inference_in_process_without_request_logs():
    tuned = server_settings(8080, 8081, 8082, Path("/r/.metrics"), tuned=True)
    defaults = server_settings(9080, 9081, 9082, Path("/r/.metrics"), tuned=False)
    assert tuned == {
        "host": "127.0.0.1",
        "http_port": 8080,
        "grpc_port": 8081,
        "metrics_port": 8082,
        "metrics_dir": "/r/.metrics",  # not `.metrics` in the source tree
        "parallel_workers": 0,
        "debug": False,
    }
    assert defaults == {
        "host": "127.0.0.1",
        "http_port": 9080,
        "grpc_port": 9081,
        "metrics_port": 9082,
        "metrics_dir": "/r/.metrics",
    }


def test_the_repository_serves_the_mlflow_model_with_the_mlflow_runtime(tmp_path):
    model = model_settings("sluice-flights", tmp_path / "model")
    settings = server_settings(1, 2, 3, tmp_path / "metrics", True)
    folder = write_repository(tmp_path / "repo", settings, model)
    written = json.loads((folder / "model-settings.json").read_text())
    assert written == {
        "name": "sluice-flights",
        "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": str(tmp_path / "model")},
    }
    assert json.loads((folder / "settings.json").read_text())["parallel_workers"] == 0
