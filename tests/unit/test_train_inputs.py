import numpy as np
import onnx
import pandas as pd
import pytest
import torch

from components.evaluate.gate import GateConfig, evaluate_gate
from components.train.export import export_onnx, parity
from components.train.model import FlightDelayNet
from components.train.preprocess import Preprocessing, TrainingDataError, check_training_frame

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
    prep = Preprocessing.fit(_frame(), ["carrier"], ["temp"])
    categorical, numeric = prep.arrays(pd.DataFrame({"carrier": ["UA", "ZZ"], "temp": [np.nan, 2]}))
    assert categorical[:, 0].tolist() == [2, 0]  # AA=1, UA=2, unseen=0
    assert np.isnan(numeric[0, 0]) and prep.means == [2.0]


def test_folded_onnx_export_matches_the_eager_net_within_1e5(tmp_path):
    torch.manual_seed(0)
    net = FlightDelayNet(
        vocab_sizes=[5, 3],
        means=[10.0, -2.0, 0.5],
        stds=[3.0, 1.0, 0.1],
        embedding_dim=8,
        hidden=(128, 64),
        dropout=0.1,
    ).eval()
    rng = np.random.default_rng(0)
    categorical = rng.integers(-2, 7, size=(2000, 2)).astype(np.int64)  # includes out of range
    numeric = rng.normal(size=(2000, 3)).astype(np.float32) * 5
    numeric[rng.random(numeric.shape) < 0.2] = np.nan
    export_onnx(net, (categorical[:8], numeric[:8]), tmp_path / "model.onnx")
    assert parity(net, tmp_path / "model.onnx", categorical, numeric) <= 1e-5
    # Folded: one gather reads every embedding; normalisation lives in the first layer.
    kernels = [node.op_type for node in onnx.load(tmp_path / "model.onnx").graph.node]
    assert kernels.count("Gather") == 1 and "Div" not in kernels and "Sub" not in kernels


def test_gate_rejects_a_challenger_weaker_than_the_champion():
    config = GateConfig(min_auc=0.7, champion_tolerance=0.005, max_slice_gap=0.1)
    checks = {c.name: c for c in evaluate_gate(config, 0.74, 0.70, 0.05, champion_auc=0.76)}
    assert not checks["vs_champion"].passed and checks["vs_champion"].limit == pytest.approx(0.755)
    assert checks["min_auc"].passed and checks["beats_logistic"].passed
    checks = {c.name: c for c in evaluate_gate(config, 0.74, 0.75, 0.2, champion_auc=None)}
    assert not checks["beats_logistic"].passed and not checks["slice_gap"].passed
    assert checks["vs_champion"].passed
