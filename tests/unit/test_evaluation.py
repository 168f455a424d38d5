import numpy as np
import pandas as pd
import pytest
import typer
from sklearn.metrics import f1_score, roc_auc_score

from components.base.decision import best_f1_threshold
from components.evaluate import references
from components.evaluate.gate import GateConfig, evaluate_gate
from components.evaluate.references import REFERENCES, Splits
from pipelines.cli.runs import pipeline_params


def _part(rows: int, seed: int) -> pd.DataFrame:
    """A label no linear model can read: delayed where the two numerics share a sign (an
    interaction), more often at one origin; a column all missing, as a feature can be."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=rows), rng.normal(size=rows)
    origin = rng.choice(["EWR", "JFK", "LGA"], size=rows)
    odds = 2.5 * np.sign(x * y) + 0.8 * (origin == "EWR") - 0.5
    return pd.DataFrame(
        {
            "origin": origin,
            "x": x,
            "y": np.where(rng.random(rows) < 0.05, np.nan, y),
            "gone": np.nan,
            "delayed": (rng.random(rows) < 1 / (1 + np.exp(-odds))).astype(int),
        }
    )


@pytest.fixture(scope="module")
def splits() -> Splits:
    return Splits(
        _part(4000, 1), _part(1500, 2), _part(1500, 3), ["origin"], ["x", "y", "gone"], "delayed"
    )


@pytest.fixture(scope="module")
def evaluated(splits):
    return references(splits)


def test_each_reference_is_judged_at_its_own_validation_chosen_threshold(splits, evaluated):
    scored, metrics = evaluated
    valid_labels = splits.valid["delayed"].to_numpy()
    labels = splits.holdout["delayed"].to_numpy()
    thresholds = {}
    for name, fit in REFERENCES.items():
        refit = fit(splits)  # the fits are seeded: the same scores again
        np.testing.assert_allclose(refit.holdout, scored[name])
        thresholds[name] = metrics[name]["threshold"]
        assert thresholds[name] == pytest.approx(best_f1_threshold(valid_labels, refit.valid))
        predicted = (scored[name] >= thresholds[name]).astype(int)
        assert metrics[name]["f1"] == pytest.approx(f1_score(labels, predicted))
        assert metrics[name]["roc_auc"] == pytest.approx(roc_auc_score(labels, scored[name]))
        assert metrics[name]["fit_seconds"] > 0 and metrics[name]["iterations"] >= 1
    assert thresholds["logistic"] != pytest.approx(thresholds["gbdt"], abs=1e-3)


def test_the_gradient_boosting_reference_reads_an_interaction_the_logistic_cannot(evaluated):
    _, metrics = evaluated
    assert metrics["logistic"]["roc_auc"] < 0.65  # the origin alone
    assert metrics["gbdt"]["roc_auc"] > metrics["logistic"]["roc_auc"] + 0.15


def test_gbdt_stops_early_on_the_validation_loss(splits):
    stopped = REFERENCES["gbdt"](splits)
    assert stopped.iterations < 300  # GBDT_MAX_ITER: patience ended it first


def test_an_unseen_category_scores_as_missing_not_an_error(splits):
    holdout = splits.holdout.assign(origin="SWF")
    unseen = Splits(splits.train, splits.valid, holdout, ["origin"], ["x", "y", "gone"], "delayed")
    for fit in REFERENCES.values():
        scores = fit(unseen).holdout
        assert np.isfinite(scores).all() and len(scores) == len(holdout)


def _beats_logistic(margin: float, auc: float = 0.755, logistic: float = 0.750):
    config = GateConfig(min_auc=0.5, logistic_margin=margin)
    checks = evaluate_gate(config, auc, logistic, slice_gap=0.0, champion_auc=None)
    return next(c for c in checks if c.name == "beats_logistic")


def test_the_logistic_margin_decides_beats_logistic():
    assert _beats_logistic(0.0).passed
    assert _beats_logistic(0.004).passed
    strict = _beats_logistic(0.01)
    assert not strict.passed and strict.limit == pytest.approx(0.76)
    assert "+ 0.0100" in strict.detail
    assert not _beats_logistic(0.0, auc=0.745).passed
    assert _beats_logistic(-0.01, auc=0.745).passed  # a negative margin tolerates a trail
    assert not _beats_logistic(0.0, auc=0.750).passed  # a tie does not beat it


@pytest.mark.parametrize(
    ("field", "value"),
    [("logistic_margin", 1.5), ("logistic_margin", float("nan")), ("min_auc", -0.1)],
)
def test_a_gate_setting_out_of_range_is_refused_by_name(field, value):
    with pytest.raises(ValueError, match=f"gate {field}=.*must be between"):
        GateConfig(**{field: value})


def test_the_margin_is_a_pipeline_parameter_checked_before_the_run(capsys):
    assert pipeline_params(["logistic_margin=0.01"]) == {"logistic_margin": 0.01}
    with pytest.raises(typer.Exit) as stopped:
        pipeline_params(["logistic_margin=2"])
    assert stopped.value.exit_code == 2
    assert "logistic_margin=2.0: must be between -1.0 and 1.0" in capsys.readouterr().out
