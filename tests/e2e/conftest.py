"""One local pipeline run on a one-month slice, shared by the e2e tests."""

from __future__ import annotations

import pytest

from components.base.settings import Settings
from pipelines.local import run_pipeline
from tests.conftest import write_slice

JANUARY_REFERENCE = "2013-02-01T00:00:00-05:00"
# A month split by time: train to the 20th, validate to the 25th, hold out the rest.
JANUARY_ARGUMENTS = {
    "reference_time": JANUARY_REFERENCE,
    "max_staleness_days": 31,
    "train_end": "2013-01-20",
    "valid_end": "2013-01-25",
    "epochs": 4,
    "min_auc": 0.65,
}


@pytest.fixture(scope="session")
def january_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("january")
    source = write_slice(root / "source", {1})
    settings = Settings(home=root / "home")
    summary = run_pipeline(
        settings,
        {"source": str(source), **JANUARY_ARGUMENTS},
    )
    return summary, source
