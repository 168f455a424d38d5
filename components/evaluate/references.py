"""The references the network is compared with: models fitted here, at evaluation, on the
same frame, the same features and the same time split the network was trained on.

Each is fitted on the train split and scores the validation split (where its own decision
threshold is chosen, as the network's was) and the holdout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Reference:
    valid: np.ndarray
    """Scores on the validation split: the reference's threshold is chosen on them."""
    holdout: np.ndarray
    fit_seconds: float
    iterations: int
    """Optimiser iterations (logistic) or boosting rounds (GBDT) the fit ran."""


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    categorical: list[str]
    numeric: list[str]
    label: str

    @property
    def usable_numeric(self) -> list[str]:
        """Columns entirely missing in training carry no signal (and have no median)."""
        return [c for c in self.numeric if self.train[c].notna().any()]

    def inputs(self, part: pd.DataFrame) -> pd.DataFrame:
        """The features of `part`, categories as text (their codes are the network's own)."""
        columns = [*self.categorical, *self.usable_numeric]
        return part[columns].astype({c: str for c in self.categorical})


def logistic_reference(splits: Splits, seed: int = 0) -> Reference:
    """A logistic regression: one-hot categories, imputed and scaled numerics with missing
    indicators. Solved by Newton steps with a Cholesky solve, the solver sklearn's docs
    recommend for many more rows than features, with one-hot categories: on the full data
    it converges in 4 iterations, a quarter of lbfgs's time (114 iterations), to the same
    holdout AUC to four places."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), splits.categorical),
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                splits.usable_numeric,
            ),
        ]
    )
    model = make_pipeline(
        features, LogisticRegression(solver="newton-cholesky", max_iter=300, random_state=seed)
    )
    started = time.perf_counter()
    model.fit(splits.inputs(splits.train), splits.train[splits.label].to_numpy())
    seconds = time.perf_counter() - started
    return Reference(
        valid=model.predict_proba(splits.inputs(splits.valid))[:, 1],
        holdout=model.predict_proba(splits.inputs(splits.holdout))[:, 1],
        fit_seconds=round(seconds, 3),
        iterations=int(model[-1].n_iter_[0]),
    )


GBDT_MAX_ITER = 300
GBDT_PATIENCE = 10
GBDT_THREADS = 1
"""OpenMP threads for the boosting. On shared cores its threads spin waiting for each
other: the full-data fit took 58 s wall on two busy cores, against 7 s on one thread."""


def gbdt_reference(splits: Splits, seed: int = 0) -> Reference:
    """sklearn's HistGradientBoostingClassifier on the same features. Categories go in as
    native categorical splits (the train split's values; an unseen one counts as missing)
    and numerics as they are, NaN for missing, which trees split on themselves: one-hot
    columns and imputation would only slow it and blunt it. Boosting stops when the
    validation split's log loss has not improved for GBDT_PATIENCE rounds, as the
    network's training stops on its validation loss."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    vocabularies = {
        c: sorted(splits.train[c].dropna().astype(str).unique()) for c in splits.categorical
    }

    def encoded(part: pd.DataFrame) -> pd.DataFrame:
        frame = splits.inputs(part)
        for column, values in vocabularies.items():
            frame[column] = pd.Categorical(frame[column], categories=values)
        return frame

    model = HistGradientBoostingClassifier(
        max_iter=GBDT_MAX_ITER,
        learning_rate=0.1,
        early_stopping=True,
        n_iter_no_change=GBDT_PATIENCE,
        scoring="loss",
        categorical_features="from_dtype",
        random_state=seed,
    )
    valid = encoded(splits.valid)
    with threadpool_limits(limits=GBDT_THREADS, user_api="openmp"):
        started = time.perf_counter()
        model.fit(
            encoded(splits.train),
            splits.train[splits.label].to_numpy(),
            X_val=valid,
            y_val=splits.valid[splits.label].to_numpy(),
        )
        seconds = time.perf_counter() - started
        return Reference(
            valid=model.predict_proba(valid)[:, 1],
            holdout=model.predict_proba(encoded(splits.holdout))[:, 1],
            fit_seconds=round(seconds, 3),
            iterations=int(model.n_iter_),
        )


REFERENCES = {"logistic": logistic_reference, "gbdt": gbdt_reference}
"""The fitted references, by the name the evaluation reports them under."""
