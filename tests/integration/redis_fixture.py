"""A throwaway redis-server on loopback; skips where the binary is missing."""

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest

from serving.process import free_port


@contextmanager
def redis_server():
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed (CI installs the Debian package)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
