"""Run the model server as a child process on loopback: `sluice smoke`, the serving
benchmark and the tests use it."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    http: str
    grpc: str
    process: subprocess.Popen
    log: str

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def stop(process: subprocess.Popen, timeout: float) -> None:
    """Terminate, and kill what does not exit within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def model_server(
    *args: str,
    env: dict | None = None,
    timeout: float = 90,
    ports: tuple[int, int] | None = None,
    module: str = "serving.server",
    prefix: tuple[str, ...] = (),
):
    """`python -m MODULE ARGS` on loopback (free ports unless given), ready before it
    yields. `prefix` wraps the command (`taskset -c 0` pins it to a core)."""
    http_port, grpc_port = ports or (free_port(), free_port())
    command = [
        *prefix,
        sys.executable,
        "-m",
        module,
        "--http_port",
        str(http_port),
        "--grpc_port",
        str(grpc_port),
        *args,
    ]
    with running(command, http_port, grpc_port, env, timeout) as server:
        yield server


def wait_ready(url: str, process: subprocess.Popen, log: Path, timeout: float, what: str) -> None:
    """Until `url` answers 200; a process that exits first, or never answers, fails with its
    log's tail."""
    deadline = time.time() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            raise TimeoutError(f"{what} not ready at {url}: {log.read_text()[-3000:]}")
        time.sleep(0.3)


@contextmanager
def running(
    command: list[str],
    http_port: int,
    grpc_port: int,
    env: dict | None = None,
    timeout: float = 90,
):
    """Any Open Inference Protocol server started by `command` to listen on these loopback
    ports (sluice's, or a peer it is measured against), ready (`/v2/health/ready` answers
    200) before it yields; stopped after."""
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)  # noqa: SIM115
    # A file, not a pipe: a pipe nobody drains fills up and blocks the server.
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)
    server = Server(f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", process, log.name)
    try:
        wait_ready(f"{server.http}/v2/health/ready", process, Path(log.name), timeout, "server")
        yield server
    finally:
        stop(process, 10)
        log.close()
        Path(log.name).unlink(missing_ok=True)
