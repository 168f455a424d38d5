"""The search space: the untuned model inside it, bad spaces refused naming the field."""

from dataclasses import replace

import pytest

from components.train import SearchSpace, TrainingConfigError, TrainParams
from components.train.search_space import (
    HYPERPARAMETERS,
    TUNED_FIELDS,
    hyperparameters,
    point_of,
    with_point,
)


def test_the_current_hyperparameters_are_a_point_of_the_default_space():
    params = TrainParams(tune_trials=2)
    start = SearchSpace().check(point_of(params))
    assert set(start) == set(HYPERPARAMETERS)
    assert hyperparameters(start) == {k: getattr(params, k) for k in TUNED_FIELDS}


def test_sampled_points_lie_in_the_space_and_vary():
    space = SearchSpace()
    domains = space.param_space()
    points = [{k: d.sample() for k, d in domains.items()} for _ in range(200)]
    for point in points:
        space.check(point)
    for name in HYPERPARAMETERS:
        assert len({p[name] for p in points}) > 1, name
    lr = sorted(p["lr"] for p in points)
    assert lr[0] < 1e-3 < 3e-3 < lr[-1]  # log-uniform: both decades are drawn


def test_a_point_sets_the_loop_config():
    config = {"lr": 1.0, "batch_size": 1, "epochs": 3, "model": {"vocab_sizes": [4]}}
    point = {"lr": 0.01, "width": 32, "depth": 3, "embedding_dim": 4}
    tuned = with_point(config, point | {"dropout": 0.2, "batch_size": 1024})
    assert tuned["lr"] == 0.01 and tuned["batch_size"] == 1024 and tuned["epochs"] == 3
    assert tuned["model"] == {
        "vocab_sizes": [4],
        "hidden": (32, 32, 32),
        "embedding_dim": 4,
        "dropout": 0.2,
    }
    assert config["model"] == {"vocab_sizes": [4]}  # the base config is left as it was


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"lr": (1e-2, 1e-3)}, "lr="),
        ({"lr": (0.0, 1e-3)}, "lr="),
        ({"dropout": (0.1, 1.0)}, "dropout="),
        ({"width": ()}, "width="),
        ({"batch_size": (0, 512)}, "batch_size="),
        ({"depth": (1.5,)}, "depth="),
        ({"grace_period": 0}, "grace_period="),
        ({"reduction_factor": 1}, "reduction_factor="),
    ],
)
def test_a_bad_space_is_refused_naming_the_field(changes, named):
    with pytest.raises(TrainingConfigError, match=named):
        replace(SearchSpace(), **changes)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"tune_trials": -1}, "tune_trials=-1"),
        ({"lr": 0.5}, "lr=0.5 is outside"),
        ({"hidden": (64, 32)}, "hidden=(64, 32)"),
        ({"batch_size": 100}, "batch_size=100 is outside"),
        ({"launcher": "single-process"}, "launcher='single-process'"),
    ],
)
def test_tuning_refuses_parameters_outside_its_space(changes, named):
    with pytest.raises(TrainingConfigError, match=named.replace("(", r"\(").replace(")", r"\)")):
        TrainParams(**{"tune_trials": 2, **changes})


def test_without_tuning_the_space_does_not_constrain_the_model():
    assert TrainParams(hidden=(64, 32), lr=0.5).tune_trials == 0
