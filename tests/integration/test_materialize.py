"""`sluice materialize`, as the chart's CronJob runs it: Feast's materialize-incremental over
the views featurize registered."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from components.featurize import run as featurize
from components.flights.feature_repo.definitions import VIEWS
from components.flights.feature_repo.store import FeastStores

pytestmark = pytest.mark.integration


def _materialize(home) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLUICE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "materialize"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_materialize_brings_new_feature_rows_online(slice_training_frame, tmp_path):
    """After featurize (which materializes its range), a newer row of a view's source
    reaches the online store with the next `sluice materialize`, and only then."""
    repo = tmp_path / "home" / "feature_repo"
    featurize(slice_training_frame.parent / "validated", repo, tmp_path / "f.parquet")
    source = repo / "data" / "plane_attributes.parquet"
    planes = pd.read_parquet(source)
    newer = planes[planes["tailnum"] == "N14228"].assign(
        plane_year=2001.0, event_timestamp=pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1)
    )
    pd.concat([planes, newer]).to_parquet(source, index=False)
    store = FeastStores().open(repo)
    row, ref = [{"tailnum": "N14228"}], ["plane_attributes:plane_year"]
    assert store.get_online_features(ref, row).to_dict()["plane_year"] == [1999.0]
    done = _materialize(tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"materialized {len(VIEWS)} feature views" in " ".join(done.stdout.split())
    assert store.get_online_features(ref, row).to_dict()["plane_year"] == [2001.0]


def test_materialize_before_any_run_says_so(tmp_path):
    done = _materialize(tmp_path / "empty")
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert "no feature views registered yet" in " ".join(done.stdout.split())
