"""`make gpu-check`: a few epochs with use_gpu=True over every visible GPU (NCCL), with
throughput next to a CPU run and a one-GPU run of the same loop on the same data; then the
trained model's forward pass on CPU and GPU at serving and batch sizes.

Skipped (exit 0) where no GPU is visible. Ray Train launches the GPU workers where Ray is
installed; elsewhere the same loop runs under plain torch.distributed, one process per GPU.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from components.base.storage import Location
from components.train import TrainParams, prepare
from components.train.model import DelayProbability, FlightDelayNet

if TYPE_CHECKING:
    from components.train.launch import FitOutcome

INFERENCE_BATCHES = (1, 256, 8192)


def _latest_training_frame() -> tuple[Path, list[str]]:
    from components.base.settings import get_settings

    outputs = sorted(
        get_settings().runs_dir.glob("*/artifacts/*/featurize/executor_output.json"),
        key=lambda p: p.stat().st_mtime,
    )
    if not outputs:
        raise SystemExit("gpu-check: no training frame yet; run `make run` first or pass --frame")
    executor = json.loads(outputs[-1].read_text())
    metadata = executor["artifacts"]["training_frame"]["artifacts"][0]["metadata"]
    return outputs[-1].with_name("training_frame"), list(metadata["features"])


def _measure(label: str, fit) -> tuple[dict, FitOutcome]:
    started = time.perf_counter()
    outcome = fit()
    wall = time.perf_counter() - started
    history = outcome.history
    steady = history[1:] or history  # the first epoch pays CUDA/NCCL warm-up
    return {
        "run": label,
        "backend": outcome.backend,
        "workers": outcome.workers,
        "epochs": len(history),
        "samples_per_second": sum(m["samples_per_second"] for m in steady) / len(steady),
        "best_val_loss": float(outcome.state["best_loss"]),
        "wall_seconds": wall,
    }, outcome


def inference_timings(
    net: FlightDelayNet,
    categorical: np.ndarray,
    numeric: np.ndarray,
    device: str,
    batch_sizes: tuple[int, ...] = INFERENCE_BATCHES,
    repeats: int = 50,
) -> list[dict]:
    """Median latency of one forward call per batch size (and all rows in one call), host
    arrays in and probabilities back on the host: what a server on `device` pays a call."""
    model = DelayProbability(net).to(device).eval()
    rows = []
    with torch.inference_mode():
        for size in (*batch_sizes, len(numeric)):
            cat, num = torch.from_numpy(categorical[:size]), torch.from_numpy(numeric[:size])
            calls = 3 if size == len(numeric) else repeats
            times = []
            for _ in range(calls + 2):  # the first two warm up kernels and caches
                started = time.perf_counter()
                model(cat.to(device), num.to(device)).cpu()
                times.append(time.perf_counter() - started)
            median = float(np.median(times[2:]))
            rows.append(
                {
                    "device": device,
                    "rows": int(len(num)),
                    "median_ms": median * 1e3,
                    "rows_per_second": len(num) / median,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frame", type=Path, help="training frame Parquet")
    parser.add_argument("--features", type=Path, help="JSON list of the model's features")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--output", type=Path, help="write the results here as JSON")
    args = parser.parse_args()

    if not torch.cuda.is_available():
        print("gpu-check skipped: no GPU visible (torch.cuda.is_available() is False)")
        return
    if args.frame:
        frame_path, features = args.frame, json.loads(args.features.read_text())
    else:
        frame_path, features = _latest_training_frame()
    params = replace(
        TrainParams(), epochs=args.epochs, patience=args.epochs + 1, batch_size=args.batch_size
    )
    prepared = prepare(pd.read_parquet(frame_path), features, params)
    config, arrays = prepared.config, prepared.arrays
    gpus = torch.cuda.device_count()
    print(
        f"{torch.cuda.get_device_name(0)} x{gpus}, torch {torch.__version__}, "
        f"{len(arrays['train_label']):,} training rows, batch {args.batch_size}"
    )

    from components.train.launch import fit_single_process, fit_torch_distributed

    cpu, _ = _measure("cpu, 1 process", lambda: fit_single_process(config, arrays, "cpu"))
    one_gpu, _ = _measure("gpu, 1 process", lambda: fit_single_process(config, arrays, "cuda"))
    try:
        import ray  # noqa: F401

        from components.train.launch import fit_with_ray

        def gpu_fit():
            return fit_with_ray(
                config, arrays, gpus, True, Location("/tmp/sluice-gpu-check"), "gpu"
            )
    except ImportError:

        def gpu_fit():
            return fit_torch_distributed(config, arrays, gpus, "cuda")

    nccl, outcome = _measure(f"gpu, {gpus} worker(s), NCCL", gpu_fit)
    results = [cpu, one_gpu, nccl]
    print(f"{'run':<28}{'backend':<26}{'workers':>8}{'samples/s':>14}{'val loss':>10}{'wall s':>9}")
    for r in results:
        print(
            f"{r['run']:<28}{r['backend']:<26}{r['workers']:>8}{r['samples_per_second']:>14,.0f}"
            f"{r['best_val_loss']:>10.4f}{r['wall_seconds']:>9.1f}"
        )
    speedup = nccl["samples_per_second"] / cpu["samples_per_second"]
    print(f"GPU (NCCL) / CPU training throughput: {speedup:.2f}x")

    net = outcome.trained_net(config["model"])
    valid = (arrays["valid_categorical"], arrays["valid_numeric"])
    inference = [
        row for device in ("cpu", "cuda") for row in inference_timings(net, *valid, device)
    ]
    print(f"{'forward on':<12}{'rows':>10}{'median ms':>12}{'rows/s':>16}")
    for r in inference:
        print(
            f"{r['device']:<12}{r['rows']:>10,}{r['median_ms']:>12.3f}{r['rows_per_second']:>16,.0f}"
        )
    if args.output:
        summary = {"results": results, "gpu_over_cpu": speedup, "inference": inference}
        args.output.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
