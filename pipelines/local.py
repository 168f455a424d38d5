"""Run the training pipeline on this machine with `kfp.local` and summarise the run.

Each task's results come from the `executor_output.json` kfp.local writes beside its
outputs: the metadata of each step's artifacts. Wall time per task is observed by a
watcher thread (task directory appears → executor output written).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from components.base.settings import Settings

# step → (summary field, the artifact whose metadata holds the step's result)
STEP_OUTPUTS = {
    "ingest": ("ingest", "snapshot"),
    "validate": ("validation", "validated"),
    "featurize": ("features", "training_frame"),
    "train": ("training", "model"),
    "evaluate": ("evaluation", "evaluation"),
    "register": ("registration", "registration"),
}
OUTPUT_FILE = "executor_output.json"


@dataclass
class StepRecord:
    name: str
    status: str = "pending"  # pending, running, succeeded, failed, skipped
    seconds: float | None = None
    compute_seconds: float | None = None
    started: float | None = field(default=None, repr=False)


@dataclass
class RunSummary:
    run_id: str
    status: str  # succeeded, stopped (a gate closed), failed
    message: str
    run_dir: str
    wall_seconds: float
    isolated: bool = False
    data_version: str | None = None
    steps: dict[str, dict] = field(default_factory=dict)
    holdout_auc: float | None = None
    baselines: dict = field(default_factory=dict)
    gate: list[dict] = field(default_factory=list)
    model_version: str | None = None
    ingest: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    evaluation: dict = field(default_factory=dict)
    registration: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _task_dirs(pipeline_root: Path) -> dict[str, Path]:
    """Step name → task directory: kfp.local names each task's directory after its task."""
    return {
        task_dir.name: task_dir
        for run_dir in pipeline_root.glob("*")
        if run_dir.is_dir()
        for task_dir in run_dir.iterdir()
    }


class _Watcher(threading.Thread):
    """Polls the pipeline root and times each task from its directory to its output."""

    def __init__(self, pipeline_root: Path, steps: dict[str, StepRecord], on_change: Callable):
        super().__init__(daemon=True)
        self.pipeline_root, self.steps, self.on_change = pipeline_root, steps, on_change
        self.done = threading.Event()

    def poll(self) -> None:
        now = time.perf_counter()
        for name, task_dir in _task_dirs(self.pipeline_root).items():
            step = self.steps.get(name)
            if step is None or step.status in ("succeeded", "failed"):
                continue
            if step.started is None:
                step.started, step.status = now, "running"
                self.on_change()
            if (task_dir / OUTPUT_FILE).is_file():
                step.status, step.seconds = "succeeded", round(now - step.started, 2)
                self.on_change()

    def run(self) -> None:
        while not self.done.wait(0.2):
            self.poll()
        self.poll()


def _artifact_metadata(task_dir: Path) -> dict[str, dict]:
    """Each output artifact's metadata, from the task's executor output."""
    data = json.loads((task_dir / OUTPUT_FILE).read_text())
    return {
        name: (entry.get("artifacts") or [{}])[0].get("metadata", {})
        for name, entry in data.get("artifacts", {}).items()
    }


def _step_error(log_path: Path, step: str) -> str:
    """The step's own error line (wrappers exit with "<step>: <reason>"), else the log."""
    pattern = re.compile(rf"^\s+{re.escape(step)}: (.+)$")
    matches = [
        m.group(1) for line in log_path.read_text().splitlines() if (m := pattern.match(line))
    ]
    return matches[-1] if matches else f"see {log_path}"


def run_pipeline(
    settings: Settings,
    arguments: dict,
    log_path: Path | None = None,
    on_change: Callable[[dict[str, StepRecord]], None] = lambda steps: None,
    run_id: str | None = None,
    pods: Mapping[str, str] | None = None,
) -> RunSummary:
    """Run the pipeline with kfp.local. With `pods` (the values of `sluice-config` and the
    Secrets), each task runs as a pod would: alone, in an empty home (pipelines/pods.py)."""
    from kfp import local

    from pipelines.pods import pod_tasks
    from pipelines.training import training_pipeline

    run_id = run_id or new_run_id()
    run_dir = settings.runs_dir / run_id
    pipeline_root = run_dir / "artifacts"
    pipeline_root.mkdir(parents=True, exist_ok=True)
    log_path = log_path or run_dir / "pipeline.log"
    os.environ["SLUICE_HOME"] = str(settings.home)  # the task subprocesses read settings too

    steps = {name: StepRecord(name) for name in STEP_OUTPUTS}
    watcher = _Watcher(pipeline_root, steps, lambda: on_change(steps))
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=False,
    )
    # kfp.local warns that the project image is not a "python" image (it runs in this venv)
    # and that cluster settings (resources, accelerators) do nothing locally.
    warnings.filterwarnings("ignore", message="You may be attemping", category=RuntimeWarning)
    warnings.filterwarnings("ignore", message="Task '.*': settings", category=UserWarning)
    started = time.perf_counter()
    watcher.start()
    isolation = pod_tasks(pods) if pods is not None else contextlib.nullcontext()
    with open(log_path, "w") as log, contextlib.redirect_stdout(log), isolation:
        training_pipeline(**arguments)
    watcher.done.set()
    watcher.join()
    wall = round(time.perf_counter() - started, 2)

    summary = RunSummary(
        run_id=run_id,
        status="succeeded",
        message="",
        run_dir=str(run_dir),
        wall_seconds=wall,
        isolated=pods is not None,
    )
    dirs = _task_dirs(pipeline_root)
    for name, step in steps.items():
        if step.status == "running":
            step.status = "failed"
            step.seconds = round(time.perf_counter() - step.started, 2)
        if name not in dirs:
            step.status = "skipped"
            continue
        if step.status != "succeeded":
            continue
        artifacts = _artifact_metadata(dirs[name])
        field_name, artifact = STEP_OUTPUTS[name]
        result = dict(artifacts.get(artifact, {}))
        step.compute_seconds = result.get("seconds")
        result.update({f"{other}_path": str(dirs[name] / other) for other in artifacts})
        setattr(summary, field_name, result)
    summary.data_version = summary.ingest.get("version")
    summary.holdout_auc = summary.evaluation.get("holdout_auc")
    summary.baselines = {
        k: v.get("roc_auc") for k, v in summary.evaluation.get("baselines", {}).items()
    }
    summary.gate = summary.evaluation.get("gate", [])
    summary.model_version = summary.registration.get("version")
    on_change(steps)
    summary.steps = {
        n: {"status": s.status, "seconds": s.seconds, "compute_seconds": s.compute_seconds}
        for n, s in steps.items()
    }
    failed = [n for n, s in steps.items() if s.status == "failed"]
    if failed:
        summary.status = "failed"
        summary.message = f"task {failed[0]} failed: {_step_error(log_path, failed[0])}"
    elif summary.validation and not summary.validation.get("passed", False):
        summary.status = "stopped"
        summary.message = "validation failed: " + "; ".join(
            f["message"] for f in summary.validation.get("failures", [])
        )
    elif summary.evaluation and not summary.evaluation.get("passed", False):
        summary.status = "stopped"
        summary.message = "evaluation gate failed: " + "; ".join(
            c["detail"] for c in summary.gate if not c["passed"]
        )
    (run_dir / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2, default=str))
    return summary
