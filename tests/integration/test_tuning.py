"""Ray Tune over Ray Train on a January training frame: trials run one after another on
the two CPUs (each stopped trial gives its workers back), and a rerun restores the search
from storage instead of training again."""

import pandas as pd
import pytest

from components.base.storage import Location
from components.train import TrainParams, prepare
from components.train.search_space import point_of
from components.train.tuning import tune_with_ray
from tests.conftest import frame_features
from tests.integration.conftest import JANUARY

pytestmark = pytest.mark.integration


@pytest.mark.timeout(300)
def test_trials_share_the_workers_in_turn_and_a_rerun_restores_the_search(
    slice_training_frame, tmp_path
):
    params = TrainParams(epochs=2, split=JANUARY, tune_trials=2)
    prepared = prepare(
        pd.read_parquet(slice_training_frame), frame_features(slice_training_frame), params
    )

    def search():
        return tune_with_ray(
            prepared.config,
            prepared.arrays,
            start=point_of(params),
            space=params.search,
            trials=2,
            num_workers=2,
            use_gpu=False,
            storage=Location(str(tmp_path / "ray")),
            name="search",
            seed=params.seed,
        )

    first = search()
    assert len(first.trials) == 2 and all(t.history for t in first.trials)
    assert first.trials[0].point == point_of(params)  # the untuned model goes first
    assert first.best.score == min(t.score for t in first.trials)
    assert first.fit.state["best_loss"] == pytest.approx(first.best.score)
    written = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("checkpoint_*")}
    assert written
    again = search()
    # nothing trained again: no checkpoint written or rewritten
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("checkpoint_*")} == written
    assert [(t.trial_id, t.point, t.score) for t in again.trials] == [
        (t.trial_id, t.point, t.score) for t in first.trials
    ]
    assert again.best.checkpoint_path == first.best.checkpoint_path
