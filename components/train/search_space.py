"""The hyperparameter search: its space and ASHA's settings, in one place.

A point of the space is a plain dict of `HYPERPARAMETERS`. The model's current
hyperparameters (`TrainParams`' defaults) lie inside the space and are the first trial, so
a search never ends on a model worse on validation than the untuned one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.train.errors import TrainingConfigError

if TYPE_CHECKING:
    from components.train import TrainParams

HYPERPARAMETERS = ("lr", "width", "depth", "embedding_dim", "dropout", "batch_size")
TUNED_FIELDS = ("lr", "hidden", "embedding_dim", "dropout", "batch_size")
"""The `TrainParams` fields a point sets (width and depth make `hidden`)."""
CHOICES = ("width", "depth", "embedding_dim", "batch_size")
RANGES = ("lr", "dropout")


@dataclass(frozen=True)
class SearchSpace:
    lr: tuple[float, float] = (3e-4, 1e-2)
    """Learning rate, log-uniform between the two."""
    width: tuple[int, ...] = (32, 64, 128, 256)
    """Units of every hidden layer, one of."""
    depth: tuple[int, ...] = (1, 2, 3)
    """Hidden layers, one of."""
    embedding_dim: tuple[int, ...] = (4, 8, 16)
    """Embedding size, one of; one size for every categorical feature, since the exported
    graph reads all embeddings with one gather from one table (`FoldedDelayProbability`)."""
    dropout: tuple[float, float] = (0.0, 0.3)
    """Dropout after each hidden layer, uniform between the two."""
    batch_size: tuple[int, ...] = (256, 512, 1024, 2048)
    """Global batch (split across the DDP workers), one of."""
    grace_period: int = 1
    """ASHA: the epochs every trial runs before it may be stopped."""
    reduction_factor: int = 2
    """ASHA: at each rung (grace_period × reduction_factor^k epochs) only the best
    1/reduction_factor of the trials that reached it go on."""

    def __post_init__(self) -> None:
        for name in CHOICES:
            values = getattr(self, name)
            if not values or any(not isinstance(v, int) or v < 1 for v in values):
                raise TrainingConfigError(
                    f"search space {name}={values}: expected one or more positive integers"
                )
        low, high = self.lr
        if not 0 < low < high:
            raise TrainingConfigError(f"search space lr={self.lr}: expected 0 < low < high")
        low, high = self.dropout
        if not 0 <= low <= high < 1:
            raise TrainingConfigError(
                f"search space dropout={self.dropout}: expected 0 <= low <= high < 1"
            )
        if self.grace_period < 1:
            raise TrainingConfigError(f"grace_period={self.grace_period}: must be at least 1")
        if self.reduction_factor < 2:
            raise TrainingConfigError(
                f"reduction_factor={self.reduction_factor}: must be at least 2"
            )

    def check(self, point: dict) -> dict:
        """`point`, refused with the first hyperparameter that lies outside the space."""
        for name in CHOICES:
            if point[name] not in getattr(self, name):
                raise TrainingConfigError(
                    f"{name}={point[name]} is outside the search space {getattr(self, name)}"
                )
        for name in RANGES:
            low, high = getattr(self, name)
            if not low <= point[name] <= high:
                raise TrainingConfigError(
                    f"{name}={point[name]} is outside the search space [{low}, {high}]"
                )
        return point

    def param_space(self) -> dict:
        """The space as Ray Tune's distributions."""
        from ray import tune

        return {
            "lr": tune.loguniform(*self.lr),
            "dropout": tune.uniform(*self.dropout),
            **{name: tune.choice(list(getattr(self, name))) for name in CHOICES},
        }


def point_of(params: TrainParams) -> dict:
    """The point of `params`' hyperparameters: its hidden layers must share one width."""
    hidden = tuple(params.hidden)
    if not hidden or len(set(hidden)) != 1:
        raise TrainingConfigError(
            f"hidden={hidden}: a searched model has one or more layers of one width"
        )
    return {
        "lr": params.lr,
        "width": hidden[0],
        "depth": len(hidden),
        "embedding_dim": params.embedding_dim,
        "dropout": params.dropout,
        "batch_size": params.batch_size,
    }


def hyperparameters(point: dict) -> dict:
    """The point as `TrainParams` fields (`hidden` for width and depth)."""
    return {
        "lr": float(point["lr"]),
        "hidden": (int(point["width"]),) * int(point["depth"]),
        "embedding_dim": int(point["embedding_dim"]),
        "dropout": float(point["dropout"]),
        "batch_size": int(point["batch_size"]),
    }


def with_point(config: dict, point: dict) -> dict:
    """The training loop's config (`components.train.prepare`) at `point`."""
    values = hyperparameters(point)
    model = {k: values[k] for k in ("hidden", "embedding_dim", "dropout")}
    return {
        **config,
        "lr": values["lr"],
        "batch_size": values["batch_size"],
        "model": {**config["model"], **model},
    }
