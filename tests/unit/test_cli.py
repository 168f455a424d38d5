import pytest
import typer

from pipelines.cli.runs import pipeline_params


def test_pipeline_params_are_typed_as_the_pipeline_declares_them():
    assert pipeline_params(["epochs=3", "min_auc=0.7", "train_end=2013-01-20"]) == {
        "epochs": 3,
        "min_auc": 0.7,
        "train_end": "2013-01-20",
    }


@pytest.mark.parametrize("pair", ["bogus=1", "epochs", "epochs=three"])
def test_bad_pipeline_params_exit_2(pair):
    with pytest.raises(typer.Exit) as stopped:
        pipeline_params([pair])
    assert stopped.value.exit_code == 2
