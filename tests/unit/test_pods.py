"""Pod isolation for local runs: what a task gets, what it loses, and the kfp hook."""

from __future__ import annotations

import sys

import pytest

from components.base.settings import Settings
from pipelines.pods import local_state, pod_config, pod_tasks


def test_the_kfp_function_the_pods_replace_still_exists():
    """kfp.local starts every task through this module function: if it moves, isolated
    runs would silently stop being isolated."""
    from kfp.local import subprocess_task_handler

    assert callable(subprocess_task_handler.run_local_subprocess)
    source = subprocess_task_handler.SubprocessTaskHandler.run.__code__.co_names
    assert "run_local_subprocess" in source


def test_a_pod_gets_the_config_and_secret_keys_and_nothing_else_of_this_shell(tmp_path):
    environ = {
        "SLUICE_REDIS_CONNECTION": "redis:6379,password=x",
        "SLUICE_HOME": "/home/me/.sluice",
        "SLUICE_IMAGE": "elsewhere",
        "MLFLOW_EXPERIMENT_NAME": "mine",
        "PATH": "/usr/bin",
    }
    # The tracking server under sluice's own name reaches the pod under MLflow's.
    settings = Settings(home=tmp_path, mlflow_tracking_uri="http://mlflow:5000")
    assert pod_config(settings, environ) == {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "SLUICE_REDIS_CONNECTION": "redis:6379,password=x",
    }


def test_local_stores_are_named_by_the_variable_that_moves_them(tmp_path):
    problems = local_state(Settings(home=tmp_path))
    named = " ".join(problems)
    for variable in (
        "MLFLOW_TRACKING_URI",
        "SLUICE_FEAST_REGISTRY",
        "SLUICE_ONLINE_STORE",
        "SLUICE_FEATURE_DATA_URI",
        "SLUICE_RAY_STORAGE_URI",
        "SLUICE_SNAPSHOTS_URI",
    ):
        assert variable in named
    shared = Settings(
        home=tmp_path,
        mlflow_tracking_uri="http://mlflow:5000",
        feast_registry="postgresql+psycopg://u:p@db/feast",
        online_store="redis",
        feature_data_uri="s3://b/features",
        ray_storage_uri="s3://b/ray",
        snapshots_uri="s3://b/snapshots",
    )
    assert local_state(shared) == []
    on_disk = shared.model_copy(update={"snapshots_uri": "/mnt/shared/snapshots"})
    assert local_state(on_disk) == [
        "SLUICE_SNAPSHOTS_URI=/mnt/shared/snapshots keeps snapshots on each task's own disk"
    ]
    a_path = shared.model_copy(update={"mlflow_tracking_uri": "/mnt/shared/mlruns"})
    assert [p.split("=")[0] for p in local_state(a_path)] == ["MLFLOW_TRACKING_URI"]


def test_each_task_runs_in_its_own_empty_home_which_dies_with_it(monkeypatch, tmp_path, capsys):
    from kfp.local import subprocess_task_handler

    monkeypatch.setenv("SLUICE_HOME", "/the/caller/home")
    monkeypatch.setenv("AWS_PROFILE", "mine")
    monkeypatch.setenv("XDG_CACHE_HOME", "/the/caller/cache")
    script = (
        "import os, pathlib; print(os.getcwd(), os.environ['HOME'], os.environ['SLUICE_HOME'],"
        " os.environ.get('AWS_PROFILE', os.environ.get('XDG_CACHE_HOME')),"
        " os.environ['MLFLOW_TRACKING_URI'],"
        " len(list(pathlib.Path.cwd().iterdir())))"
    )
    with pod_tasks({"MLFLOW_TRACKING_URI": "http://mlflow:5000"}, root=tmp_path):
        for _ in range(2):
            code = subprocess_task_handler.run_local_subprocess([sys.executable, "-c", script])
            assert code == 0
    runs = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
    (cwd1, home1, sluice1, profile, uri, entries), (cwd2, *_) = runs
    assert cwd1 == home1 and sluice1 == f"{home1}/.sluice" and cwd1 != cwd2
    assert (profile, uri, entries) == ("None", "http://mlflow:5000", "0")
    assert list(tmp_path.iterdir()) == []  # both homes are gone
    assert subprocess_task_handler.run_local_subprocess.__name__ == "run_local_subprocess"


@pytest.mark.parametrize("code", [0, 3])
def test_the_pod_returns_the_tasks_exit_status(tmp_path, code):
    from kfp.local import subprocess_task_handler

    with pod_tasks({}, root=tmp_path):
        status = subprocess_task_handler.run_local_subprocess(
            [sys.executable, "-c", f"raise SystemExit({code})"]
        )
    assert status == code
