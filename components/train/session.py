"""Where a training loop reports to: Ray Train, or a plain process.

The loop itself only sees this interface, so the same code runs as Ray Train workers, as a
single-process baseline and under any torch.distributed launcher.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Protocol

import torch

STATE_FILE = "state.pt"
PLACEMENT_GROUP = "placement_group"
"""The metric naming the Ray placement group of the workers that reported it."""


class Session(Protocol):
    device: torch.device

    def restored_state(self) -> dict | None: ...

    def report(self, metrics: dict, state: dict | None) -> None: ...


class LocalSession:
    """A plain process: keeps the history and the last state in memory."""

    def __init__(self, device: torch.device | None = None):
        self.device = device or torch.device("cpu")
        self.history: list[dict] = []
        self.state: dict | None = None

    def restored_state(self) -> dict | None:
        return None

    def report(self, metrics: dict, state: dict | None) -> None:
        self.history.append(metrics)
        if state is not None:
            self.state = state


class RaySession:
    """Ray Train: checkpoints go through `ray.train.report`, resume through
    `ray.train.get_checkpoint()` after a worker failure or a rerun with the same name."""

    def __init__(self):
        import ray.train
        import ray.train.torch
        from ray.util import get_current_placement_group

        self._train = ray.train
        self.device = ray.train.torch.get_device()
        group = get_current_placement_group()
        # Reported with the metrics, so that a Tune trial stopped early (its trainer killed
        # with it, never to release its workers' resources) can be cleaned up after.
        self._group = {PLACEMENT_GROUP: group.id.hex()} if group is not None else {}

    def restored_state(self) -> dict | None:
        checkpoint = self._train.get_checkpoint()
        if checkpoint is None:
            return None
        with checkpoint.as_directory() as directory:
            return torch.load(Path(directory) / STATE_FILE, weights_only=False)

    def report(self, metrics: dict, state: dict | None) -> None:
        metrics = {**metrics, **self._group}
        if state is None:
            self._train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            torch.save(state, Path(directory) / STATE_FILE)
            self._train.report(metrics, checkpoint=self._train.Checkpoint.from_directory(directory))
