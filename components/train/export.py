"""Export to ONNX with the metadata serving needs, and prove the export matches eager."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from components.base.contract.names import INPUT_NAMES, OUTPUT_NAME
from components.train.model import DelayProbability, FlightDelayNet, FoldedDelayProbability


def export_onnx(net: FlightDelayNet, example: tuple[np.ndarray, np.ndarray], path: Path) -> None:
    """The folded form (`FoldedDelayProbability`); `parity` holds it to the eager net."""
    model = FoldedDelayProbability(net).eval()
    tensors = tuple(torch.from_numpy(a) for a in example)
    torch.onnx.export(
        model,
        tensors,
        str(path),
        input_names=list(INPUT_NAMES),
        output_names=[OUTPUT_NAME],
        dynamic_axes={name: {0: "batch"} for name in [*INPUT_NAMES, OUTPUT_NAME]},
        opset_version=17,
        dynamo=False,  # the TorchScript exporter needs only `onnx`
    )


def eager_probability(net: FlightDelayNet, categorical: np.ndarray, numeric: np.ndarray):
    with torch.no_grad():
        model = DelayProbability(net).eval()
        return model(torch.from_numpy(categorical), torch.from_numpy(numeric)).numpy()


def onnx_probability(path: Path, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = dict(zip(INPUT_NAMES, (categorical, numeric), strict=True))
    return session.run([OUTPUT_NAME], inputs)[0]


def parity(net: FlightDelayNet, path: Path, categorical, numeric) -> float:
    """Largest absolute difference between exported and eager probabilities."""
    eager = eager_probability(net, categorical, numeric)
    exported = onnx_probability(path, categorical, numeric)
    return float(np.max(np.abs(eager - exported)))
