"""The drift service and the retrain trigger as processes on loopback, as a cluster runs
them: the drift service in the drift environment, the trigger from the main CLI."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.cli.drift import drift_python
from serving.process import free_port
from tests.services import _running, missing

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Running:
    url: str
    pid: int

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the service's /metrics (0 when absent, as a counter not yet counted)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    return sample.value
        return 0.0


@contextmanager
def drift_service(*args: str, prefix: tuple[str, ...] = ()) -> Iterator[Running]:
    python = drift_python()
    if not python.is_file():
        missing(f"no drift environment at {python.parent.parent}: `make venv-drift` makes it")
    port = free_port()
    command = [*prefix, str(python), "-m", "serving.drift.service", "--port", str(port), *args]
    with _running(command, port, "drift service", cwd=ROOT) as process:
        yield Running(f"http://127.0.0.1:{port}", process.pid)


@contextmanager
def trigger_service(env: dict[str, str], *args: str) -> Iterator[Running]:
    port = free_port()
    command = [sys.executable, "-m", "pipelines.cli", "trigger", "serve", "--port", str(port)]
    with _running([*command, *args], port, "retrain trigger", cwd=ROOT, env=env) as process:
        yield Running(f"http://127.0.0.1:{port}", process.pid)


def wait_until(condition, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")
