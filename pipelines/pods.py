"""Pod-isolated local runs: each kfp.local task runs as a pod would, alone, in an empty home
and working directory that is deleted when it exits, with none of this shell's variables
but a few an image sets itself (`KEPT`) and the ones a pod gets from `sluice-config` and
the Secrets.

State can then pass between tasks only through their KFP artifacts and the shared
services, as on a cluster: a task that kept something on its own disk, or read a path
another task wrote, fails here the way it would fail there.

kfp.local starts every task through one module function,
`kfp.local.subprocess_task_handler.run_local_subprocess`; `pod_tasks` replaces it for the
duration of a run (tests/unit/test_pods.py fails loudly if kfp moves it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from components.base.settings import CONFIG_KEYS, SECRET_KEYS, SHARED_STATE, Settings

KEPT = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONPATH", "VIRTUAL_ENV")
"""What a pod keeps of this shell (and `LC_*`): what its image would set. Nothing else
passes, neither a cache directory nor a credential."""
POD_KEYS = CONFIG_KEYS + tuple(k for keys in SECRET_KEYS.values() for k in keys)
"""What a pod gets from `sluice-config` and the Secrets (pipelines/cluster.py)."""
_DATABASES = ("postgresql", "mysql", "mssql", "oracle")


def pod_config(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    """The ConfigMap and Secret values, as this shell sets them (the tracking server as the
    settings resolved it, whichever of its two variables named it)."""
    config = {key: environ[key] for key in POD_KEYS if environ.get(key)}
    if settings.mlflow_tracking_uri:
        config["MLFLOW_TRACKING_URI"] = settings.mlflow_tracking_uri
    return config


def _service(uri: str | None, schemes: tuple[str, ...]) -> bool:
    return bool(uri) and str(uri).split(":", 1)[0].split("+", 1)[0] in schemes


def local_state(settings: Settings) -> list[str]:
    """Why these settings would lose state between pods: each store they keep on a task's
    own disk, by the variable that moves it to a service."""
    problems = []
    for setting, variable in SHARED_STATE.items():
        value = getattr(settings, setting)
        if setting == "online_store":
            shared = value == "redis"
        elif setting == "mlflow_tracking_uri":
            shared = _service(value, ("http", "https", *_DATABASES))
        elif setting == "feast_registry":
            shared = _service(value, _DATABASES)
        else:
            shared = bool(value) and settings.location(value).remote
        if not shared:
            problems.append(
                f"{variable}={value or ''!s} keeps {setting.removesuffix('_uri')} on each "
                "task's own disk"
            )
    return problems


class _PodLauncher:
    def __init__(self, root: Path, config: Mapping[str, str]):
        self.root, self.config, self.started = root, dict(config), 0

    def environment(self, home: Path, task_env: Mapping[str, str] | None) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k in KEPT or k.startswith("LC_")}
        return {
            **inherited,
            **self.config,
            **(task_env or {}),
            "HOME": str(home),
            "TMPDIR": str(home),
            "SLUICE_HOME": str(home / ".sluice"),
        }

    def __call__(self, full_command: list[str], env_vars: dict | None = None) -> int:
        """kfp.local's `run_local_subprocess`, in a fresh pod home."""
        self.started += 1
        home = Path(tempfile.mkdtemp(prefix=f"p{self.started}-", dir=self.root))
        try:
            with subprocess.Popen(
                full_command,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                cwd=home,
                env=self.environment(home, env_vars),
            ) as process:
                for line in iter(process.stdout.readline, ""):
                    print(line, end="")
                print("\n")
                return process.wait()
        finally:
            shutil.rmtree(home, ignore_errors=True)  # the pod's disk goes with it


@contextmanager
def pod_tasks(config: Mapping[str, str], root: Path | None = None) -> Iterator[Path]:
    """While open, every kfp.local task runs as a pod (see the module's docstring), with
    `config` as its ConfigMap and Secrets. Yields the directory the pod homes live in,
    short, because Ray's socket paths under a pod's TMPDIR must stay under 108 bytes."""
    from kfp.local import subprocess_task_handler

    own_root = root is None
    root = Path(root or tempfile.mkdtemp(prefix="pods"))
    root.mkdir(parents=True, exist_ok=True)
    original = subprocess_task_handler.run_local_subprocess
    subprocess_task_handler.run_local_subprocess = _PodLauncher(root, config)
    try:
        yield root
    finally:
        subprocess_task_handler.run_local_subprocess = original
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
