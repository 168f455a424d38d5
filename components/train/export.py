"""Export to ONNX with the metadata serving needs, and prove the export matches eager.

The exported graph takes the raw features (`FeatureLayout`), so that any ONNX runtime (the
MLflow pyfunc, MLServer, Triton) serves it without sluice's code. Torch exports the folded
net over category codes and a numeric matrix; in front of it go ONNX's own operators: an
`ai.onnx.ml` LabelEncoder per categorical feature (its vocabulary; anything else to code 0),
each kind of column stacked into its matrix, and the `unseen` output, whose bits say which
categorical features were out of vocabulary in each row.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from components.base.contract.layout import FeatureLayout
from components.base.contract.names import OUTPUT_NAME, UNSEEN_OUTPUT
from components.train.model import DelayProbability, FlightDelayNet, FoldedDelayProbability

OPSET = 17
ML_OPSET = 2  # LabelEncoder with string keys and int64 values, as onnxruntime runs it
_CODES, _NUMERIC = "codes", "numeric"  # the torch graph's inputs, inside the export


class ExportError(RuntimeError):
    """The exported graph does not compute what the eager net and the encoder do."""


def export_onnx(net: FlightDelayNet, layout: FeatureLayout, path: Path) -> None:
    """The folded form (`FoldedDelayProbability`) behind the raw-feature encoding; `parity`
    holds it to the eager net."""
    import onnx

    model = FoldedDelayProbability(net).eval()
    example = (
        torch.zeros((2, len(layout.categorical)), dtype=torch.int64),
        torch.zeros((2, len(layout.numeric)), dtype=torch.float32),
    )
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        example,
        buffer,
        input_names=[_CODES, _NUMERIC],
        output_names=[OUTPUT_NAME],
        dynamic_axes={name: {0: "batch"} for name in [_CODES, _NUMERIC, OUTPUT_NAME]},
        opset_version=OPSET,
        dynamo=False,  # the TorchScript exporter needs only `onnx`
    )
    graph = onnx.load_from_string(buffer.getvalue())
    _take_raw_features(graph, layout)
    onnx.checker.check_model(graph, full_check=True)
    onnx.save(graph, str(path))


def _take_raw_features(model, layout: FeatureLayout) -> None:
    """Replace the graph's two matrix inputs with one input per feature, encoded in front."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    nodes, constants = [], {}

    def constant(name: str, value: np.ndarray) -> str:
        constants[name] = numpy_helper.from_array(value, name)
        return name

    def stacked(columns: list[str], out: str) -> None:
        """[rows] columns into [rows, columns]: one concat, a reshape, a transpose."""
        shape = constant(f"{out}/shape", np.array([len(columns), -1], np.int64))
        nodes.extend(
            [
                helper.make_node("Concat", columns, [f"{out}/flat"], axis=0),
                helper.make_node("Reshape", [f"{out}/flat", shape], [f"{out}/by_feature"]),
                helper.make_node("Transpose", [f"{out}/by_feature"], [out], perm=[1, 0]),
            ]
        )

    codes = []
    for name in layout.categorical:
        lookup = layout.category_codes[name]
        codes.append(f"{name}/code")
        nodes.append(
            helper.make_node(
                "LabelEncoder",
                [name],
                [codes[-1]],
                domain="ai.onnx.ml",
                keys_strings=list(lookup),
                values_int64s=list(lookup.values()),
                default_int64=0,
            )
        )
    stacked(codes, _CODES)
    stacked(layout.numeric, _NUMERIC)
    zero = constant("unseen/zero", np.array(0, np.int64))
    bits = constant("unseen/bits", layout.unseen_bits)
    axis = constant("unseen/axis", np.array([1], np.int64))
    nodes.extend(
        [
            helper.make_node("Equal", [_CODES, zero], ["unseen/flags"]),
            helper.make_node("Where", ["unseen/flags", bits, zero], ["unseen/set"]),
            helper.make_node("ReduceSum", ["unseen/set", axis], [UNSEEN_OUTPUT], keepdims=0),
        ]
    )
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.STRING, ["batch"])
        for name in layout.categorical
    ] + [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch"]) for name in layout.numeric
    ]
    del graph.input[:]
    graph.input.extend(inputs)
    graph.initializer.extend(constants.values())
    trained = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *trained])
    graph.output.append(helper.make_tensor_value_info(UNSEEN_OUTPUT, TensorProto.INT64, ["batch"]))
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))


def eager_probability(net: FlightDelayNet, categorical: np.ndarray, numeric: np.ndarray):
    with torch.no_grad():
        model = DelayProbability(net).eval()
        return model(torch.from_numpy(categorical), torch.from_numpy(numeric)).numpy()


def parity(net: FlightDelayNet, path: Path, layout: FeatureLayout, frame: pd.DataFrame) -> float:
    """Largest absolute difference between the exported graph's probabilities for the raw
    rows of `frame` and the eager net's for the same rows encoded in Python. The graph's
    `unseen` bits must be the rows' code-0 columns exactly, and every probability a number
    (else `ExportError`)."""
    import onnxruntime as ort

    codes, numeric = layout.encode_categorical(frame), layout.numeric_matrix(frame)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = layout.feed(*layout.arrays(frame))
    exported, unseen = session.run([OUTPUT_NAME, UNSEEN_OUTPUT], feed)
    expected_unseen = np.where(codes == 0, layout.unseen_bits, 0).sum(axis=1)
    if not np.array_equal(unseen, expected_unseen):
        rows = np.flatnonzero(unseen != expected_unseen)
        raise ExportError(f"the graph's unseen bits differ from the vocabularies' in rows {rows}")
    difference = float(np.max(np.abs(eager_probability(net, codes, numeric) - exported)))
    if not np.isfinite(difference):  # NaN would pass any `difference > limit`
        raise ExportError(f"the graph or the eager net answers {difference} for some rows")
    return difference
