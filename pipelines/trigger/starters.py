"""How a retraining run is started: on Kubeflow through `kfp.Client` (`pipelines/submit.py`),
or locally as a `sluice run` subprocess. Each returns the run's id at once, without waiting
for the run."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from components.base.settings import Settings

RUN_PARAMETER = "reference_time"
"""The one parameter set per trigger: the freshness gate's reference time, so the run
trains on the data as it is now (`validate` refuses a source older than
`max_staleness_days` before it)."""


class Starter(Protocol):
    def __call__(self, reference_time: datetime, reason: str) -> str:
        """Starts a run; returns its id. Raises `KfpError` (or `OSError` locally) if it cannot."""
        ...


def run_parameters(reference_time: datetime, fixed: dict[str, Any]) -> dict[str, Any]:
    """The run's parameters: the fixed ones (`--param`), and the reference time of the
    trigger unless pinned among them."""
    return {RUN_PARAMETER: reference_time.isoformat(timespec="seconds"), **fixed}


class KfpStarter:
    """Creates a KFP run of the compiled pipeline. The package is uploaded as a new version
    on the first trigger and reused after, so every run of this service names the spec it ran."""

    def __init__(
        self,
        settings: Settings,
        package: Path,
        experiment: str,
        fixed: dict[str, Any],
        connect: Callable[[Settings], Any] | None = None,
    ) -> None:
        from pipelines import submit

        self._settings, self._package, self._experiment, self._fixed = (
            settings,
            package,
            experiment,
            fixed,
        )
        self._connect = connect or submit.connect
        self._client: Any = None
        self._ids: tuple[str, str] | None = None
        self._version = ""

    def __call__(self, reference_time: datetime, reason: str) -> str:
        from pipelines import submit

        with submit.kfp_errors(self._settings):
            if self._client is None:
                self._client = self._connect(self._settings)
            if self._ids is None:
                name = submit.pipeline_name(self._package)
                self._version = submit.version_name()
                self._ids = submit.upload(self._client, self._package, name, self._version)
            return submit.submit_run(
                self._client,
                self._experiment,
                f"retrain {reference_time:%Y-%m-%dT%H:%M:%SZ}: {reason}"[:100],
                *self._ids,
                run_parameters(reference_time, self._fixed),
            )


class LocalStarter:
    """Starts `sluice run` (or the command given, for tests) as a subprocess and returns at
    once: the run's id is `local-<pid>`. Its output goes to a log file under `home`; finished
    children are reaped on the next start, so none lingers as a zombie."""

    def __init__(
        self,
        log_dir: Path,
        fixed: dict[str, Any],
        command: Callable[[dict[str, Any]], list[str]] | None = None,
    ) -> None:
        self._log_dir, self._fixed = log_dir, fixed
        self._command = command or sluice_run_command
        self._children: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self.started: list[list[str]] = []
        """Every command started, for the audit and for tests."""

    def __call__(self, reference_time: datetime, reason: str) -> str:
        argv = self._command(run_parameters(reference_time, self._fixed))
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log = self._log_dir / f"retrain-{reference_time:%Y%m%dT%H%M%S}.log"
        with self._lock, log.open("ab") as out:
            self._children = [c for c in self._children if c.poll() is None]
            child = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
            self._children.append(child)
            self.started.append(argv)
        return f"local-{child.pid}"

    def children(self) -> list[subprocess.Popen]:
        return list(self._children)


def sluice_run_command(params: dict[str, Any]) -> list[str]:
    """`sluice run` with the parameters: its own options for the three it has, `--param`
    for the rest."""
    argv = [sys.executable, "-m", "pipelines.cli", "run"]
    own = {"source": "--source", "reference_time": "--reference-time"}
    own |= {"max_staleness_days": "--max-staleness-days"}
    for name, value in params.items():
        if name in own:
            argv += [own[name], str(value)]
        else:
            argv += ["--param", f"{name}={value}"]
    return argv
