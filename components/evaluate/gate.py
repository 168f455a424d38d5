"""The evaluation gate: each condition is reported pass or fail with its numbers."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GateConfig:
    min_auc: float = 0.74
    champion_tolerance: float = 0.005
    """The challenger may trail the champion's holdout AUC by at most this much."""
    max_slice_gap: float = 0.15
    logistic_margin: float = 0.0
    """The holdout AUC must exceed the logistic baseline's by more than this. 0 by default:
    the network must beat the baseline, by any amount. The difference of two models' AUCs
    on one holdout is mostly noise on a small slice: its bootstrap standard deviation (the
    two references') is 0.005 on the one-month slice's holdout of 6,066 flights, against
    0.001 on the full data's 84,292, so a margin of 0.01 would fail a good model on a slice
    by chance. Full-data runs that must show a real lead set it (0.01 is the goal there)."""

    def __post_init__(self) -> None:
        for name, low, high in (
            ("min_auc", 0.0, 1.0),
            ("champion_tolerance", 0.0, 1.0),
            ("max_slice_gap", 0.0, 1.0),
            ("logistic_margin", -1.0, 1.0),
        ):
            value = getattr(self, name)
            if not low <= value <= high:  # NaN too
                raise ValueError(f"gate {name}={value}: must be between {low} and {high}")


@dataclass
class GateCheck:
    name: str
    passed: bool
    value: float | None
    limit: float | None
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_gate(
    config: GateConfig,
    auc: float,
    logistic_auc: float,
    slice_gap: float,
    champion_auc: float | None,
    champion_incomparable: str | None = None,
    champion_horizon: float | None = None,
    horizon: float = 0.0,
) -> list[GateCheck]:
    """`champion_incomparable`: why the champion could not be scored on this frame (it
    reads features this frame lacks): nothing to compare, so the check passes and says why.
    `champion_horizon`: the champion's horizon where it differs from this model's
    (`horizon`): the check fails, since the served transformer reads features at the
    champion's horizon; a model for another horizon is promoted by hand, with the
    transformer's `--horizon`."""
    checks = [
        GateCheck(
            "min_auc",
            auc >= config.min_auc,
            auc,
            config.min_auc,
            f"holdout ROC-AUC {auc:.4f} must be >= {config.min_auc:.4f}",
        ),
        GateCheck(
            "beats_logistic",
            auc > logistic_auc + config.logistic_margin,
            auc,
            logistic_auc + config.logistic_margin,
            f"holdout ROC-AUC {auc:.4f} must exceed the logistic baseline {logistic_auc:.4f}"
            + (f" + {config.logistic_margin:.4f}" if config.logistic_margin else ""),
        ),
        GateCheck(
            "slice_gap",
            slice_gap <= config.max_slice_gap,
            slice_gap,
            config.max_slice_gap,
            f"largest slice AUC gap {slice_gap:.4f} must be <= {config.max_slice_gap:.4f}",
        ),
    ]
    if champion_horizon is not None:
        checks.append(
            GateCheck(
                "vs_champion",
                False,
                horizon,
                champion_horizon,
                f"this model predicts {horizon:g} min before departure, the champion "
                f"{champion_horizon:g}: promote it by hand with the transformer's --horizon",
            )
        )
    elif champion_incomparable:
        checks.append(
            GateCheck(
                "vs_champion", True, None, None, f"champion not comparable: {champion_incomparable}"
            )
        )
    elif champion_auc is None or math.isnan(champion_auc):
        checks.append(
            GateCheck("vs_champion", True, None, None, "no champion registered: nothing to beat")
        )
    else:
        floor = champion_auc - config.champion_tolerance
        checks.append(
            GateCheck(
                "vs_champion",
                auc >= floor,
                auc,
                floor,
                f"holdout ROC-AUC {auc:.4f} must be >= champion {champion_auc:.4f} - "
                f"{config.champion_tolerance:.4f}",
            )
        )
    return checks
