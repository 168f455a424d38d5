"""The per-worker training loop: DDP over torch.distributed when a process group exists."""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from components.train.model import FlightDelayNet
from components.train.session import Session


def _tensors(arrays: dict, split: str) -> TensorDataset:
    return TensorDataset(
        torch.from_numpy(arrays[f"{split}_categorical"]),
        torch.from_numpy(arrays[f"{split}_numeric"]),
        torch.from_numpy(arrays[f"{split}_label"].astype(np.float32)),
    )


def _evaluate(model, data: TensorDataset, device, batch_size: int) -> float:
    loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
    total = 0.0
    model.eval()
    with torch.no_grad():
        for cat, num, y in DataLoader(data, batch_size=batch_size * 8):
            total += loss_fn(model(cat.to(device), num.to(device)), y.to(device)).item()
    model.train()
    return total / len(data)


def train_loop(config: dict, arrays: dict, session: Session) -> None:
    """Train with early stopping on validation loss; report and checkpoint every epoch.

    Every worker scores the whole validation set, so all reach the same stop decision.
    """
    distributed = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    torch.manual_seed(config["seed"])
    if config.get("threads"):
        torch.set_num_threads(config["threads"])
    device = session.device

    net = FlightDelayNet(**config["model"]).to(device)
    model = DistributedDataParallel(net) if distributed else net
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=1e-5)
    train, valid = _tensors(arrays, "train"), _tensors(arrays, "valid")
    sampler = DistributedSampler(
        train, num_replicas=world, rank=rank, shuffle=True, seed=config["seed"]
    )
    loader = DataLoader(train, batch_size=config["batch_size"], sampler=sampler, drop_last=True)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    state = session.restored_state()
    start_epoch, best_loss, best_weights, stale = 0, float("inf"), None, 0
    resumed_from = None
    if state is not None:
        net.load_state_dict(state["weights"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best_loss = state["epoch"] + 1, state["best_loss"]
        best_weights, stale = state["best_weights"], state["stale"]
        resumed_from = state["epoch"]

    for epoch in range(start_epoch, config["epochs"]):
        sampler.set_epoch(epoch)
        started, seen, running = time.perf_counter(), 0, 0.0
        for cat, num, y in loader:
            cat, num, y = cat.to(device), num.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(cat, num), y)
            loss.backward()
            optimizer.step()
            seen += len(y)
            running += loss.item() * len(y)
        seconds = time.perf_counter() - started
        val_loss = _evaluate(net, valid, device, config["batch_size"])
        if val_loss < best_loss - config["min_delta"]:
            best_loss, best_weights, stale = val_loss, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
        stop = stale >= config["patience"] or epoch == config["epochs"] - 1
        metrics = {
            "epoch": epoch,
            "train_loss": running / max(seen, 1),
            "val_loss": val_loss,
            "best_val_loss": best_loss,
            "epoch_seconds": seconds,
            "samples_per_second": seen * world / seconds,
            "world_size": world,
            "resumed_from_epoch": resumed_from,
            "stopped": stop,
        }
        checkpoint = None
        if rank == 0:
            checkpoint = {
                "weights": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "best_loss": best_loss,
                "best_weights": best_weights,
                "stale": stale,
                "metrics": metrics,
            }
        session.report(metrics, checkpoint)
        if stop:
            break
