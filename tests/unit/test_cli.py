import pytest
import typer

from components.base.contract.names import MODEL_NAME
from pipelines.cli.runs import pipeline_params


def test_pipeline_params_are_typed_as_the_pipeline_declares_them():
    assert pipeline_params(["epochs=3", "min_auc=0.7", "train_end=2013-01-20"]) == {
        "epochs": 3,
        "min_auc": 0.7,
        "train_end": "2013-01-20",
    }


def test_a_flag_is_read_by_its_word():
    assert pipeline_params(["rollout=false"]) == {"rollout": False}
    assert pipeline_params(["rollout=True"]) == {"rollout": True}


@pytest.mark.parametrize("pair", ["bogus=1", "epochs", "epochs=three", "rollout=maybe"])
def test_bad_pipeline_params_exit_2(pair):
    with pytest.raises(typer.Exit) as stopped:
        pipeline_params([pair])
    assert stopped.value.exit_code == 2


@pytest.mark.parametrize(
    "pairs", [["gpus=1", "num_workers=2"], ["gpus=2", "num_workers=1"], ["gpus=-1"]]
)
def test_an_impossible_gpu_and_worker_pair_is_refused_before_the_run(pairs, capsys):
    with pytest.raises(typer.Exit) as stopped:
        pipeline_params(pairs)
    assert stopped.value.exit_code == 2
    said = capsys.readouterr().out
    assert "gpus=" in said and "num_workers=" in said  # names both parameters


def test_gpus_with_the_default_or_a_matching_worker_count_are_accepted():
    assert pipeline_params(["gpus=2"]) == {"gpus": 2}
    assert pipeline_params(["gpus=2", "num_workers=2"]) == {"gpus": 2, "num_workers": 2}


def test_tune_trials_is_a_pipeline_parameter_and_a_negative_count_is_refused(capsys):
    assert pipeline_params(["tune_trials=4"]) == {"tune_trials": 4}
    with pytest.raises(typer.Exit) as stopped:
        pipeline_params(["tune_trials=-1"])
    assert stopped.value.exit_code == 2
    assert "tune_trials=-1" in capsys.readouterr().out


def test_the_run_table_shows_the_search_and_what_it_chose():
    from rich.console import Console

    from pipelines.cli.render import result_table
    from pipelines.local import RunSummary

    training = {"epochs_run": 2, "workers": 2, "backend": "ray/gloo", "val_auc": 0.7}
    tuned = {"trials": 4, "stopped_early": 3, "best_trial": "ab_00002", "metric": "val_loss"}
    summary = RunSummary("r", "succeeded", "", "/tmp/r", 1.0)
    summary.training = training | {
        "tuning": tuned | {"best_score": 0.47312},
        "hyperparameters": {"lr": 0.004, "hidden": [128, 128]},
    }
    console = Console(record=True, width=300)
    console.print(result_table(summary))
    shown = console.export_text()
    assert "best of 4 trials (3 stopped early by ASHA): trial ab_00002, val_loss 0.4731" in shown
    assert "lr 0.004, hidden [128, 128]" in shown
    summary.training = training
    console.print(result_table(summary))
    assert console.export_text().count("tuning") == 0  # export_text clears what it exported


@pytest.mark.parametrize("model", ["no model here/", "champ.v2", "model.onnx", "sluice-flights/3"])
def test_a_model_that_is_no_directory_alias_or_uri_is_named_not_looked_up(
    model, tmp_path, monkeypatch, capsys
):
    from pipelines.cli.registry import model_uri

    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"")  # a file, not a model directory

    with pytest.raises(typer.Exit) as stopped:
        model_uri(model)
    assert stopped.value.exit_code == 2
    said = " ".join(capsys.readouterr().out.split())
    assert f"'{model}' is no model directory, no alias and no models:/ URI" in said


def test_a_model_directory_alias_or_uri_is_taken_as_it_is(tmp_path):
    from pipelines.cli.registry import model_uri

    assert model_uri(str(tmp_path)) == str(tmp_path)
    assert model_uri("challenger") == f"models:/{MODEL_NAME}@challenger"
    assert model_uri("new_champion-2") == f"models:/{MODEL_NAME}@new_champion-2"
    assert model_uri(f"models:/{MODEL_NAME}/3") == f"models:/{MODEL_NAME}/3"
