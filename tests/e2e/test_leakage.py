"""No feature in the training frame uses a fact that was not yet known at its row's event
time. For sampled rows, every fact not known at that time is hidden (`tests/leakage.py`,
the tests' own knowledge times), the views' sources are rebuilt from what is left, and
each feature is read back at the row's time as Feast would: a value that used a later
fact changes. (Run on the features before knowledge times, this test fails on
`origin_mean_dep_delay`; `tests/unit/test_leakage_check.py` keeps that case.)"""

import pandas as pd
import pytest

from components.flights import features as F
from components.flights.feature_repo import definitions
from tests.leakage import known_at, point_in_time, same

pytestmark = pytest.mark.e2e
SAMPLE = 80


@pytest.fixture(scope="module")
def frames(january_run):
    summary, _ = january_run
    validated = summary.validation["validated_path"]
    tables = {
        t: pd.read_parquet(f"{validated}/{t}.parquet") for t in ("flights", "weather", "planes")
    }
    training = pd.read_parquet(summary.features["training_frame_path"])
    # Rows with a past: late enough in the month that every window has filled.
    late = training[
        training[F.ENTITY_TIMESTAMP] >= training[F.ENTITY_TIMESTAMP].min() + pd.Timedelta(days=8)
    ]
    return late.sample(SAMPLE, random_state=7), tables


def _views() -> list[tuple]:
    """The service's views, each with its join keys (from its entities: a view's own
    `join_keys` are filled in only once a store applies it)."""
    objects = definitions.build("unused")
    service = objects[definitions.FEATURE_SERVICE]
    views = [objects[p.name] for p in service.feature_view_projections]
    return [(view, [objects[name].join_key for name in view.entities]) for view in views]


def _entity_tables(tables: dict, row: pd.Series) -> dict:
    """Only the flights that share one of the row's entities: each view's source is
    computed per key, so these give the row's keys the same rows, for less work."""
    flights = tables["flights"]
    mine = (
        (flights["origin"] == row["origin"])
        | (flights["dest"] == row["dest"])
        | (flights["carrier"] == row["carrier"])
        | (flights["tailnum"] == row["tailnum"])
    )
    return {**tables, "flights": flights[mine]}


def test_no_feature_uses_a_fact_not_yet_known(frames):
    sample, tables = frames
    views = _views()
    checked, leaks = 0, []
    for _, row in sample.iterrows():
        t = row[F.ENTITY_TIMESTAMP]
        sources = F.feature_sources(known_at(_entity_tables(tables, row), t))
        values = {}
        for view, keys in views:
            found = point_in_time(
                sources[view.name],
                {k: row[k] for k in keys},
                t,
                view.ttl,
                F.ENTITY_TIMESTAMP,
            )
            for feature in view.features:
                values[feature.name] = [None if found is None else found[feature.name]]
        values = F.with_elapsed(values, F.epoch_seconds([t]))
        for name, (value,) in values.items():
            checked += 1
            if not same(row[name], value):
                leaks.append((name, str(t), row[name], value))
    assert checked >= SAMPLE * 20
    assert not leaks, f"{len(leaks)} values changed once later facts were hidden: {leaks[:8]}"
