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
) -> list[GateCheck]:
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
            auc > logistic_auc,
            auc,
            logistic_auc,
            f"holdout ROC-AUC {auc:.4f} must exceed the logistic baseline {logistic_auc:.4f}",
        ),
        GateCheck(
            "slice_gap",
            slice_gap <= config.max_slice_gap,
            slice_gap,
            config.max_slice_gap,
            f"largest slice AUC gap {slice_gap:.4f} must be <= {config.max_slice_gap:.4f}",
        ),
    ]
    if champion_auc is None or math.isnan(champion_auc):
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
