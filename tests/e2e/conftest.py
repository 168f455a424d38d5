"""One local pipeline run on a one-month slice, shared by the e2e tests."""

from __future__ import annotations

import pytest

from components.settings import Settings
from pipelines.local import run_pipeline
from tests.conftest import write_slice

JANUARY_REFERENCE = "2013-02-01T00:00:00-05:00"


@pytest.fixture(scope="session")
def january_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("january")
    source = write_slice(root / "source", {1})
    settings = Settings(home=root / "home")
    summary = run_pipeline(
        settings,
        {"source": str(source), "reference_time": JANUARY_REFERENCE, "max_staleness_days": 31},
    )
    return summary, source
