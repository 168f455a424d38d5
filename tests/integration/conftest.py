"""Fixtures shared by the serving and transformer tests."""

import pytest

from components.splits import TimeSplit
from components.train import TrainParams
from components.train import run as train
from tests.conftest import frame_features


@pytest.fixture(scope="module")
def model_dir(slice_training_frame, tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    params = TrainParams(
        epochs=3, launcher="single-process", split=TimeSplit("2013-01-20", "2013-01-25")
    )
    train(
        slice_training_frame,
        frame_features(slice_training_frame),
        root / "model",
        root / "ray",
        "served",
        params,
        lineage={"model_version": "7"},
    )
    return root / "model"
