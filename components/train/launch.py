"""Launch the training loop: Ray Train `TorchTrainer` (DDP) or a single plain process."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from components.base.storage import Location
from components.train.loop import train_loop
from components.train.model import FlightDelayNet
from components.train.session import STATE_FILE, LocalSession


@dataclass
class FitOutcome:
    state: dict  # the last checkpoint: weights, best_weights, metrics …
    history: list[dict]
    seconds: float
    workers: int
    backend: str

    def trained_net(self, model_config: dict) -> FlightDelayNet:
        """The net with the best weights (the last where none was best), in eval mode."""
        net = FlightDelayNet(**model_config)
        net.load_state_dict(self.state["best_weights"] or self.state["weights"])
        return net.eval()


def fit_single_process(config: dict, arrays: dict, device: str = "cpu") -> FitOutcome:
    """The plain PyTorch baseline: the same loop, no Ray, no process group."""
    session = LocalSession(torch.device(device))
    started = time.perf_counter()
    train_loop(config, arrays, session)
    return FitOutcome(
        session.state, session.history, time.perf_counter() - started, 1, "single-process"
    )


def _spawned_worker(rank: int, world: int, config: dict, arrays: dict, out: str, port: int):
    import torch.distributed as dist

    backend = "nccl" if config["device_type"] == "cuda" else "gloo"
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    device = torch.device(f"cuda:{rank}") if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(device)
    session = LocalSession(device)
    try:
        train_loop(config, arrays, session)
    finally:
        dist.destroy_process_group()
    if rank == 0:
        torch.save({"state": session.state, "history": session.history}, out)


def fit_torch_distributed(config: dict, arrays: dict, world: int, device_type: str) -> FitOutcome:
    """The same loop under plain torch.distributed (NCCL on GPUs, gloo on CPU), for
    machines without Ray: one process per GPU, spawned here."""
    import socket
    import tempfile

    import torch.multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // world) if device_type == "cpu" else None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        out = str(Path(scratch) / "result.pt")
        started = time.perf_counter()
        mp.spawn(
            _spawned_worker,
            args=(
                world,
                {**config, "device_type": device_type, "threads": threads},
                arrays,
                out,
                port,
            ),
            nprocs=world,
        )
        seconds = time.perf_counter() - started
        result = torch.load(out, weights_only=False)
    backend = f"torch.distributed/{'nccl' if device_type == 'cuda' else 'gloo'}"
    return FitOutcome(result["state"], result["history"], seconds, world, backend)


def _ray_worker(config: dict) -> None:
    import ray

    from components.train.session import RaySession

    train_loop(config, ray.get(config["arrays_ref"]), RaySession())


def start_ray() -> None:
    """Join or start the Ray instance the trainers (and Tune's trials) run in."""
    import ray

    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if not ray.is_initialized():
        ray.init(
            include_dashboard=False,
            log_to_driver=bool(os.environ.get("SLUICE_RAY_LOGS")),
            configure_logging=False,
        )


def ray_trainer(
    config: dict,
    arrays_ref,
    num_workers: int,
    use_gpu: bool,
    storage: Location,
    name: str,
    max_failures: int = 1,
    callbacks: tuple = (),
):
    """A `TorchTrainer` of the loop over `num_workers` DDP workers (gloo on CPU, NCCL on
    GPU), keeping its checkpoints in `storage` under `name`; `arrays_ref` is the arrays
    in Ray's object store, shared by every worker (and every Tune trial)."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    threads = max(1, int(ray.cluster_resources().get("CPU", 1)) // num_workers)
    return TorchTrainer(
        train_loop_per_worker=_ray_worker,
        train_loop_config={**config, "threads": threads, "arrays_ref": arrays_ref},
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=use_gpu, resources_per_worker={"CPU": 1}
        ),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(
            name=name,
            storage_path=storage.path,
            storage_filesystem=storage.filesystem if storage.remote else None,
            failure_config=FailureConfig(max_failures=max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
            callbacks=list(callbacks),
        ),
    )


def load_state(checkpoint) -> dict:
    """The loop's state (weights, best weights, history …) from a Ray Train checkpoint."""
    with checkpoint.as_directory() as directory:
        return torch.load(Path(directory) / STATE_FILE, weights_only=False)


def fit_with_ray(
    config: dict,
    arrays: dict,
    num_workers: int,
    use_gpu: bool,
    storage: Location,
    name: str,
    max_failures: int = 1,
) -> FitOutcome:
    """DDP across `num_workers` Ray Train workers: gloo on CPU, NCCL on GPU. Rerunning with
    the same `storage` (a directory, or S3 so that a retried pod finds it) and `name`
    resumes from the last checkpoint, and a lost worker is replaced and resumes the same
    way (up to `max_failures` times)."""
    import ray

    start_ray()
    trainer = ray_trainer(
        config, ray.put(arrays), num_workers, use_gpu, storage, name, max_failures
    )
    started = time.perf_counter()
    result = trainer.fit()
    seconds = time.perf_counter() - started
    if result.error:
        raise RuntimeError(f"training failed: {result.error}") from result.error
    state = load_state(result.checkpoint)
    backend = f"ray/{'nccl' if use_gpu else 'gloo'}"
    return FitOutcome(state, state["history"], seconds, num_workers, backend)
