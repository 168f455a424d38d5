"""Training/serving skew: what the transformer assembles for a live request must be the
training frame's row for that flight. The online store is materialized up to a time T;
flights scheduled in the quarter hour after T are then requested as a caller would send them
(its own ISO time, no derived fields), and each model input is held to the training frame:
same features in the same order, equal values (a mismatch names flight and feature), the
same dtypes for the request-time features, and the same codes and float32 numbers as the
model reads them. It runs `model_input`, the path `preprocess` serves requests through.
"""

import asyncio

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore

from components.base.contract.layout import FeatureLayout
from components.base.contract.names import FEATURE_SERVICE, MODEL_NAME
from components.featurize import run as featurize
from components.flights.feature_repo.store import FeastStores
from components.flights.request import CATEGORICAL_FEATURES, REQUEST_FEATURES
from components.flights.schema import TIMEZONE
from serving.transformer import FeastTransformer
from tests.integration.helpers import caller_requests

pytestmark = pytest.mark.integration
T = pd.Timestamp("2013-01-28T08:00:00", tz=TIMEZONE)  # a Monday morning: many departures
KEY = ["year", "month", "day", "carrier", "flight", "origin"]


def _training_rows(hour: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The training frame's row of each flight of `hour`, in `hour`'s order."""
    keys = hour[KEY].astype({k: "int64" for k in ("year", "month", "day", "flight")})
    return keys.merge(frame, on=KEY, how="left", validate="one_to_one")


@pytest.fixture(scope="module")
def served_at_t(slice_training_frame, tmp_path_factory):
    """A fresh repo over the January slice, its online store materialized up to T; the
    training frame it gives; and the validated flights of the hour after T."""
    root = tmp_path_factory.mktemp("skew")
    validated = slice_training_frame.parent / "validated"
    result = featurize(validated, root / "repo", root / "frame.parquet", materialize=False)
    frame = pd.read_parquet(root / "frame.parquet")
    store = FeatureStore(repo_path=str(root / "repo"))
    start = frame["event_timestamp"].min() - pd.Timedelta(days=3)
    store.materialize(start_date=start.to_pydatetime(), end_date=T.to_pydatetime())
    flights = pd.read_parquet(validated / "flights.parquet")
    # A flight's features are read as of its scheduled departure; the state of the day
    # moves on a 15-minute grid, so the store at T serves the flights of T's quarter hour.
    hour = flights[(flights["time_hour"] == T) & (flights["minute"] < 15)].reset_index(drop=True)
    return root / "repo", frame, hour, result.features


def skew(served: pd.DataFrame, trained: pd.DataFrame, names: list[str]) -> list[str]:
    """Every (flight, feature) whose served value differs from the trained one."""
    found = []
    for row in range(len(served)):
        flight = " ".join(str(trained.iloc[row][k]) for k in KEY)
        for name in names:
            a, b = served.iloc[row][name], trained.iloc[row][name]
            same = (pd.isna(a) and pd.isna(b)) if pd.isna(a) or pd.isna(b) else a == b
            if not same:
                found.append(f"flight {flight}: {name} served {a!r}, trained {b!r}")
    return found


def test_the_transformers_model_input_is_the_training_frames_row(served_at_t):
    repo, frame, hour, features = served_at_t
    assert len(hour) >= 20, "the quarter hour after T should have departures"
    transformer = FeastTransformer(MODEL_NAME, repo, FeastStores(), FEATURE_SERVICE)
    transformer.load()
    served = pd.DataFrame(asyncio.run(transformer.model_input(caller_requests(hour))))
    trained = _training_rows(hour, frame)

    assert list(served.columns) == features  # the same features, in the same order
    for name in REQUEST_FEATURES:  # the same derivation gives the same dtypes
        assert served[name].dtype == trained[name].dtype, name
    mismatches = skew(served, trained, features)
    assert not mismatches, f"{len(mismatches)} skewed values, e.g.\n" + "\n".join(mismatches[:10])

    # And as the model reads them: the same text and the same float32 numbers, input by
    # input, and the same codes as training fed the net.
    numeric = [f for f in features if f not in CATEGORICAL_FEATURES]
    vocabularies = {c: sorted(frame[c].dropna().unique()) for c in CATEGORICAL_FEATURES}
    layout = FeatureLayout(list(CATEGORICAL_FEATURES), numeric, vocabularies)
    fed, trained_feed = layout.feed(*layout.arrays(served)), layout.feed(*layout.arrays(trained))
    assert list(fed) == features
    for name, values in fed.items():
        assert values.dtype == trained_feed[name].dtype, name
        np.testing.assert_array_equal(values, trained_feed[name])
    np.testing.assert_array_equal(
        layout.encode_categorical(served), layout.encode_categorical(trained)
    )


def test_the_check_names_a_skewed_feature(served_at_t):
    """The check itself can fail, and says where: one feature of one flight off by an hour."""
    _, frame, hour, features = served_at_t
    trained = _training_rows(hour, frame)
    served = trained[features].copy()
    served.loc[3, "hour"] += 1
    assert skew(served, trained, features) == [
        f"flight {' '.join(str(trained.iloc[3][k]) for k in KEY)}: hour served "
        f"{served.loc[3, 'hour']!r}, trained {trained.loc[3, 'hour']!r}"
    ]
