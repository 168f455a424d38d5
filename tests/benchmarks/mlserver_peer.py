"""MLServer with `mlserver-mlflow`, the runtime KServe's `kserve-mlserver` uses for
`modelFormat: mlflow`, serving the registered MLflow model: the peer a user of a stock runtime
gets. It runs from its own venv (`.venv-bench-mlserver` beside the source tree), which the
benchmark creates: MLServer's pins do not fit the main environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from serving.process import free_port, running
from tests.benchmarks.common import console

VENV = Path(__file__).resolve().parents[2] / ".venv-bench-mlserver"
PACKAGES = ("mlserver==1.7.1", "mlserver-mlflow==1.7.1", "uvloop<0.22")
"""MLServer and its MLflow runtime as measured before (issue 15). With uvloop 0.22 or later,
MLServer's default parallel worker fails to start (SeldonIO/MLServer#2286)."""
RUNTIME = "mlserver_mlflow.MLflowRuntime"
TUNED = {"parallel_workers": 0, "debug": False}
"""The figure of record: inference in the server process (no hand-off to a worker process)
and no per-request log lines. MLServer's defaults are `parallel_workers: 1` and `debug: true`
(uvicorn's access line per REST call, a log line per gRPC call)."""


def requirements(model_dir: Path) -> list[str]:
    """MLServer's packages, then what the model was logged with (its `requirements.txt`, as
    MLflow wrote it: mlflow, onnx, onnxruntime, numpy, pandas at their logged versions)."""
    logged = (Path(model_dir) / "requirements.txt").read_text().splitlines()
    return [*PACKAGES, *(line.strip() for line in logged if line.strip() and line[0] != "#")]


def venv_commands(python: str, venv: Path, packages: list[str]) -> list[list[str]]:
    """The commands that build the venv from nothing, with the same interpreter as the
    benchmark's."""
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    return [[python, "-m", "venv", str(venv)], [*pip, "--upgrade", "pip"], [*pip, *packages]]


def ensure_venv(packages: list[str], venv: Path = VENV) -> Path:
    """The venv holding `packages`; built (a few minutes) unless one built for exactly these
    is there. Its stamp lists them, so a changed pin or model rebuilds it."""
    stamp = venv / ".installed-bench-mlserver"
    wanted = "\n".join(packages)
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv
    shutil.rmtree(venv, ignore_errors=True)  # another pin set, or a build cut short
    with console.status(f"building {venv.name}: {' '.join(packages)}"):
        for command in venv_commands(sys.executable, venv, packages):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    stamp.write_text(wanted)
    return venv


def server_settings(
    http_port: int, grpc_port: int, metrics_port: int, metrics_dir: Path, tuned: bool
) -> dict:
    """MLServer's `settings.json`: loopback ports (its metrics server too, whose default
    8082 would clash between servers), its multiprocess metrics files in `metrics_dir` (by
    default `.metrics` under the working directory, the source tree), and `TUNED` or
    MLServer's defaults."""
    ports = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "metrics_dir": str(metrics_dir),
    }
    return {**ports, **(TUNED if tuned else {})}


def model_settings(name: str, model_dir: Path) -> dict:
    """`model-settings.json`, as the `kserve-mlserver` runtime sets it through its
    environment: the MLflow runtime, the model's name and its directory."""
    return {"name": name, "implementation": RUNTIME, "parameters": {"uri": str(model_dir)}}


def write_repository(directory: Path, settings: dict, model: dict) -> Path:
    """The folder `mlserver start` takes: both settings files at its root."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "settings.json").write_text(json.dumps(settings, indent=2))
    (directory / "model-settings.json").write_text(json.dumps(model, indent=2))
    return directory


@contextmanager
def mlserver(
    model_dir: Path,
    name: str,
    tuned: bool,
    repository: Path,
    prefix: tuple[str, ...] = (),
):
    """MLServer serving the MLflow model at `model_dir` as `name`, ready before it yields.
    `prefix` wraps the command (`taskset -c 0`; its worker processes inherit the pinning)."""
    venv = ensure_venv(requirements(model_dir))
    http_port, grpc_port = free_port(), free_port()
    write_repository(
        repository,
        server_settings(http_port, grpc_port, free_port(), repository / ".metrics", tuned),
        model_settings(name, Path(model_dir).resolve()),
    )
    command = [*prefix, str(venv / "bin" / "mlserver"), "start", str(repository)]
    with running(command, http_port, grpc_port, timeout=180) as server:
        yield server
