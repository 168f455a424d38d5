from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from components.base.contract.layout import FeatureLayout
from components.evaluate.gate import GateConfig, evaluate_gate
from components.train.export import ExportError, export_onnx, parity
from components.train.model import (
    DelayProbability,
    FlightDelayNet,
    FoldedBins,
    FoldedDelayProbability,
    PiecewiseLinear,
)
from components.train.preprocess import (
    Preprocessing,
    TrainingDataError,
    check_training_frame,
    quantile_edges,
)

FEATURES = ["carrier", "temp"]


def _frame(**overrides):
    frame = pd.DataFrame(
        {"carrier": ["AA", "UA", "AA"], "temp": [1.0, 2.0, 3.0], "delayed": [0, 1, 0]}
    )
    return frame.assign(**overrides)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_frame().drop(columns="temp"), r"missing column\(s\) \['temp'\]"),
        (_frame(temp=np.nan), r"feature\(s\) \['temp'\] are all NaN"),
        (_frame(delayed=0), "has one class only"),
        (_frame().iloc[0:0], "no rows"),
    ],
)
def test_frames_that_cannot_train_are_refused_with_the_reason(frame, message):
    with pytest.raises(TrainingDataError, match=message):
        check_training_frame(frame, FEATURES, "delayed")


def test_preprocessing_indexes_categories_with_an_unseen_bucket():
    prep = Preprocessing.fit(_frame(), ["carrier"], ["temp"], bins=2)
    categorical, numeric = prep.arrays(pd.DataFrame({"carrier": ["UA", "ZZ"], "temp": [np.nan, 2]}))
    assert categorical[:, 0].tolist() == [2, 0]  # AA=1, UA=2, unseen=0
    assert np.isnan(numeric[0, 0]) and prep.means == [2.0] and prep.edges == [[1.0, 2.0, 3.0]]
    # The empty text is the unseen value's text (a tensor's code 0): never in a vocabulary.
    assert Preprocessing.fit(
        _frame(carrier=["", "UA", "AA"]), ["carrier"], ["temp"], bins=2
    ).layout.vocabularies == {"carrier": ["AA", "UA"]}


def test_quantile_edges_merge_repeated_values_and_skip_constant_features():
    values = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, np.nan])
    assert quantile_edges(values, 4) == [1.0, 2.5, 4.0]  # quartiles 1, 1, 1, 2.5, 4
    assert quantile_edges(np.array([1.0, 1.0, 1.0, 1.0, 1.0, 9.0]), 4) == [1.0, 9.0]
    assert quantile_edges(np.array([5.0, 5.0, np.nan]), 4) == []
    assert quantile_edges(np.array([np.nan]), 4) == []
    assert quantile_edges(values, 0) == []


def test_piecewise_linear_encoding_is_the_formula_and_zero_for_missing():
    encode = PiecewiseLinear([[0.0, 10.0, 30.0], [], [-1.0, 1.0]])
    numeric = torch.tensor(
        [[5.0, 7.0, 0.0], [20.0, np.nan, -3.0], [40.0, 0.0, np.nan], [np.nan, 0.0, 1.0]]
    )
    encoded = encode(numeric, torch.isnan(numeric))
    # Bins of feature 0: [0, 10] and [10, 30]; feature 1 has none; feature 2: [-1, 1].
    assert encoded.tolist() == [
        [0.5, 0.0, 0.5],  # 5 is half-way through the first bin; 0 half-way through [-1, 1]
        [1.0, 0.5, 0.0],  # 20 fills the first bin and half the second; -3 is below
        [1.0, 1.0, 0.0],  # 40 is past the last edge: every bin full; NaN: zeros
        [0.0, 0.0, 1.0],  # NaN: zeros
    ]


def test_the_folded_bins_are_the_training_encoding_value_for_value():
    """Far outside the edges included, a narrow first bin and a feature without bins. The
    folded bins read a missing value as 0 (`FoldedDelayProbability` takes the difference
    back), so they are held to training's encoding of the same imputed values."""
    edges = [[0.0, 10.0, 30.0], [], [-1.0, 1.0], [1e3, 1e3 + 0.01, 5e3], [1e7, 1e7 + 0.5, 2e7]]
    encode = PiecewiseLinear(edges)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(4000, 5)) * [20, 1, 2, 3000, 1e7] + [10, 0, 0, 2e3, 1e7]
    numeric = torch.from_numpy(values).float()
    numeric[rng.random(numeric.shape) < 0.2] = 0.0
    numeric[:3, 3] = torch.tensor([-3e38, 3e38, 1e3])
    folded = FoldedBins(encode, features=5)(numeric)
    assert torch.equal(folded, encode(numeric, torch.zeros_like(numeric, dtype=torch.bool)))
    assert folded[:3, 3:5].tolist() == [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]


LAYOUT = FeatureLayout(
    ["carrier", "origin"],
    ["hour", "distance", "temp"],
    {"carrier": ["AA", "B6", "DL", "UA", "WN"], "origin": ["EWR", "JFK", "LGA"]},
)


def _net(edges=((0.0, 6.0, 12.0, 24.0), (-8.0, 0.0, 8.0), ())) -> FlightDelayNet:
    """temp: no bins, unless `edges` give some."""
    torch.manual_seed(0)
    return FlightDelayNet(
        vocab_sizes=[5, 3],
        means=[10.0, -2.0, 0.5],
        stds=[3.0, 1.0, 0.1],
        edges=[list(bounds) for bounds in edges],
        embedding_dim=8,
        hidden=(128, 64),
        dropout=0.1,
    ).eval()


def _raw_rows(rows: int = 2000) -> pd.DataFrame:
    """Known and unknown categories, numbers with a fifth missing."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            name: rng.choice([*vocabulary, "ZZ", ""], rows)
            for name, vocabulary in LAYOUT.vocabularies.items()
        }
    )
    numeric = rng.normal(size=(rows, 3)) * 5
    numeric[rng.random(numeric.shape) < 0.2] = np.nan
    return frame.assign(**dict(zip(LAYOUT.numeric, numeric.T, strict=True)))


def test_the_exported_graph_takes_raw_features_and_matches_the_eager_net(tmp_path):
    net, path = _net(), tmp_path / "model.onnx"
    export_onnx(net, LAYOUT, path)
    assert parity(net, path, LAYOUT, _raw_rows()) <= 1e-5
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("carrier", "tensor(string)"),
        ("origin", "tensor(string)"),
        ("hour", "tensor(float)"),
        ("distance", "tensor(float)"),
        ("temp", "tensor(float)"),
    ]
    feed = {
        "carrier": np.array(["UA", "ZZ", "UA", "nope"], dtype=object),
        "origin": np.array(["JFK", "JFK", "", "SFO"], dtype=object),
        **{name: np.array([1, 2, np.nan, 3], np.float32) for name in LAYOUT.numeric},
    }
    _, unseen = session.run(["probability", "unseen"], feed)
    assert unseen.tolist() == [0, 1, 2, 3]  # bit 0: carrier unseen, bit 1: origin
    assert LAYOUT.unseen_counts(unseen) == {"carrier": 2, "origin": 2}
    # Folded: one gather reads every embedding, one product makes the bins and another
    # takes them into the first layer, whose input they are not copied into; one Where
    # imputes (the other sets the unseen bits); normalisation lives in the first layer and
    # the bins' division in their scale.
    graph = onnx.load(path).graph
    kernels = [node.op_type for node in graph.node]
    assert kernels.count("Gather") == 1 and kernels.count("MatMul") == 2
    assert kernels.count("Where") == 2 and kernels.count("Gemm") == 3
    (clip,) = (node for node in graph.node if node.op_type == "Clip")
    assert [node.op_type for node in graph.node if clip.output[0] in node.input] == ["MatMul"]
    assert "Div" not in kernels and "Sub" not in kernels
    assert kernels.count("LabelEncoder") == 2


def test_the_folded_form_is_the_trained_net_bins_and_missing_values_included():
    net = _net()
    numeric = torch.from_numpy(_raw_rows()[LAYOUT.numeric].to_numpy(np.float32))
    numeric[:5] = torch.tensor([-5.0, 5.0, 30.0, np.nan, 0.0]).unsqueeze(1)  # below, past, NaN
    categorical = torch.randint(0, 4, (len(numeric), 2))
    with torch.no_grad():
        folded = FoldedDelayProbability(net)(categorical, numeric)
        eager = DelayProbability(net)(categorical, numeric)
    assert net.bins.width == 5
    assert torch.isfinite(folded).all() and torch.allclose(folded, eager, atol=1e-6)


def test_a_net_without_bins_exports_and_matches_the_eager_net(tmp_path):
    """`bins=0`: every numeric only scaled; the graph has no bins stage."""
    net, path = _net(edges=[[], [], []]), tmp_path / "model.onnx"
    assert net.bins.width == 0
    export_onnx(net, LAYOUT, path)
    assert parity(net, path, LAYOUT, _raw_rows()) <= 1e-5
    assert "MatMul" not in [node.op_type for node in onnx.load(path).graph.node]


def test_a_feature_far_from_zero_exports_within_the_limit(tmp_path):
    """A year (mean 2001, std 6.5, as the planes' are) and a pressure (1017, 7): folding the
    standardisation and the imputation into the first layer cancels terms a hundred times
    the weights, whose float32 rounding must stay within parity's limit; a fifth missing."""
    torch.manual_seed(0)
    net = FlightDelayNet(
        vocab_sizes=[5, 3],
        means=[2001.0, 1017.0, 10.0],
        stds=[6.5, 7.0, 3.0],
        edges=[[1990.0, 1998.0, 2002.0, 2005.0, 2013.0], [1000.0, 1013.0, 1020.0, 1035.0], []],
        embedding_dim=8,
        hidden=(128,),
        dropout=0.0,
    ).eval()
    with torch.no_grad():  # weights three times their initial scale, as trained ones grow
        net.mlp[0].weight.mul_(3.0)
    rows = _raw_rows()
    rng = np.random.default_rng(1)
    for name, (mean, std) in {"hour": (2001.0, 6.5), "distance": (1017.0, 7.0)}.items():
        values = rng.normal(mean, 2 * std, len(rows))
        values[rng.random(len(rows)) < 0.2] = np.nan
        rows[name] = values
    path = tmp_path / "model.onnx"
    export_onnx(net, LAYOUT, path)
    assert parity(net, path, LAYOUT, rows) <= 1e-5


def test_parity_refuses_a_graph_that_answers_nan(tmp_path):
    """A missing value imputed with −inf, as training's bins read it: −inf times the bins'
    product's zeros makes every row with a missing number NaN, which no limit on the
    difference would catch."""
    net, path = _net(), tmp_path / "model.onnx"
    export_onnx(net, LAYOUT, path)
    graph = onnx.load(path)
    nodes = graph.graph.node
    (isnan,) = (n.output[0] for n in nodes if n.op_type == "IsNaN")
    (impute,) = (n for n in nodes if n.op_type == "Where" and n.input[0] == isnan)
    (missing,) = (n for n in nodes if n.output[0] == impute.input[1])
    missing.attribute[0].t.CopyFrom(onnx.numpy_helper.from_array(np.float32(-np.inf)))
    onnx.save(graph, path)
    with pytest.raises(ExportError, match="answers nan"):
        parity(net, path, LAYOUT, _raw_rows())


def test_parity_catches_a_graph_encoding_other_vocabularies(tmp_path):
    net, path = _net(), tmp_path / "model.onnx"
    export_onnx(net, LAYOUT, path)
    reordered = replace(
        LAYOUT, vocabularies={**LAYOUT.vocabularies, "origin": ["LGA", "JFK", "EWR"]}
    )
    assert parity(net, path, reordered, _raw_rows()) > 1e-3
    shorter = replace(LAYOUT, vocabularies={**LAYOUT.vocabularies, "origin": ["EWR", "JFK"]})
    with pytest.raises(ExportError, match="unseen bits"):
        parity(net, path, shorter, _raw_rows())


def test_gate_rejects_a_challenger_weaker_than_the_champion():
    config = GateConfig(min_auc=0.7, champion_tolerance=0.005, max_slice_gap=0.1)
    checks = {c.name: c for c in evaluate_gate(config, 0.74, 0.70, 0.05, champion_auc=0.76)}
    assert not checks["vs_champion"].passed and checks["vs_champion"].limit == pytest.approx(0.755)
    assert checks["min_auc"].passed and checks["beats_logistic"].passed
    checks = {c.name: c for c in evaluate_gate(config, 0.74, 0.75, 0.2, champion_auc=None)}
    assert not checks["beats_logistic"].passed and not checks["slice_gap"].passed
    assert checks["vs_champion"].passed
