"""Time-based splits shared by training and evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from components.base.localtime import localized


@dataclass(frozen=True)
class TimeSplit:
    """train: before `train_end`; validation: up to `valid_end`; holdout: from `valid_end`.
    Boundaries are ISO 8601 dates or times, local to `timezone` when they carry no offset."""

    timezone: str
    train_end: str
    valid_end: str

    def masks(self, event_time: pd.Series) -> dict[str, pd.Series]:
        train_end = localized(self.train_end, self.timezone)
        valid_end = localized(self.valid_end, self.timezone)
        if not train_end < valid_end:
            raise ValueError(f"train_end ({self.train_end}) must be before valid_end")
        return {
            "train": event_time < train_end,
            "valid": (event_time >= train_end) & (event_time < valid_end),
            "holdout": event_time >= valid_end,
        }

    def split(self, frame: pd.DataFrame, time_column: str) -> dict[str, pd.DataFrame]:
        return {
            name: frame[mask].reset_index(drop=True)
            for name, mask in self.masks(frame[time_column]).items()
        }
