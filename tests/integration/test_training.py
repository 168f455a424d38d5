"""Real Ray Train DDP, real ONNX export, real MLflow (SQLite) on a January training frame."""

import threading
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import psutil
import pytest

from components.base.contract.artifact import ModelArtifact
from components.base.contract.names import MODEL_NAME
from components.base.decision import best_f1_threshold
from components.base.registry import RegistryUnavailable, client, download_version
from components.base.splits import TimeSplit
from components.base.storage import Location
from components.evaluate import GateConfig
from components.evaluate import run as evaluate
from components.evaluate.references import REFERENCES, Splits
from components.flights.features import ENTITY_TIMESTAMP
from components.flights.schema import TIMEZONE
from components.register import run as register
from components.train import TrainParams
from components.train import run as train
from tests.conftest import frame_features
from tests.integration.conftest import JANUARY
from tests.services import S3_KEYS, s3_server

pytestmark = pytest.mark.integration
PARAMS = TrainParams(epochs=3, split=JANUARY, patience=5)


def _train(frame, tmp_path, name, **changes):
    return train(
        frame,
        frame_features(frame),
        tmp_path / name,
        tmp_path / "ray",
        name,
        replace(PARAMS, **changes),
        lineage={"data_version": "test"},
    )


@pytest.mark.timeout(300)
def test_ddp_on_two_workers_exports_a_model_that_matches_eager(slice_training_frame, tmp_path):
    result = _train(slice_training_frame, tmp_path, "ddp")
    assert result.workers == 2 and result.backend == "ray/gloo"
    assert result.epochs_run == 3
    assert result.export_max_abs_diff <= 1e-5
    assert (tmp_path / "ddp" / "model.onnx").is_file()
    assert 0.6 < result.val_auc < 1.0


def _kill_a_worker_after_first_checkpoint(storage: Path, killed: list) -> None:
    """SIGKILL a Ray Train worker once the controller has registered a checkpoint (its
    snapshot file exists): the replacement group must resume from it."""
    deadline = time.time() + 240
    while time.time() < deadline and not killed:
        if any(storage.rglob("checkpoint_manager_snapshot.json")):
            for process in psutil.process_iter(["cmdline"]):
                if "RayTrainWorker" in " ".join(process.info["cmdline"] or []):
                    process.kill()
                    killed.append(process.pid)
                    return
        time.sleep(0.2)


@pytest.mark.timeout(400)
def test_training_resumes_from_the_last_checkpoint_after_a_worker_is_killed(
    slice_training_frame, tmp_path
):
    killed: list[int] = []
    watcher = threading.Thread(
        target=_kill_a_worker_after_first_checkpoint, args=(tmp_path / "ray", killed)
    )
    watcher.start()
    result = _train(slice_training_frame, tmp_path, "resume", epochs=20, patience=100)
    watcher.join()
    assert killed, "no worker was killed"
    assert result.resumed_from_epoch is not None and result.resumed_from_epoch >= 0
    assert result.epochs_run == 20
    assert (tmp_path / "resume" / "metadata.json").is_file()


@pytest.mark.timeout(400)
def test_a_retried_train_resumes_from_its_checkpoints_in_s3(
    slice_training_frame, tmp_path, monkeypatch
):
    """A retried train pod has an empty disk: it resumes from the checkpoints the first
    attempt left in the bucket, found by the run's name."""
    import ray

    for key, value in S3_KEYS.items():
        monkeypatch.setenv(key, value)
    ray.shutdown()  # a Ray started by an earlier test has workers without the S3 keys
    with s3_server() as endpoint:
        storage = Location("s3://sluice/ray", endpoint)
        first = train(
            slice_training_frame,
            frame_features(slice_training_frame),
            tmp_path / "first",
            storage,
            "retried",
            replace(PARAMS, epochs=2),
        )
        ray.shutdown()  # nothing of the first attempt's Ray survives: only the bucket
        retried = train(
            slice_training_frame,
            frame_features(slice_training_frame),
            tmp_path / "retried",
            storage,
            "retried",
            replace(PARAMS, epochs=3),
        )
    assert (first.resumed_from_epoch, first.epochs_run) == (None, 2)
    assert (retried.resumed_from_epoch, retried.epochs_run) == (1, 3)


@pytest.fixture(scope="module")
def two_models(slice_training_frame, tmp_path_factory):
    """A real model and a weaker one (one epoch on a sliver of the data)."""
    root = tmp_path_factory.mktemp("models")
    strong = _train(slice_training_frame, root, "strong", launcher="single-process", epochs=4)
    weak = _train(
        slice_training_frame,
        root,
        "weak",
        launcher="single-process",
        epochs=1,
        lr=1e-5,
        split=TimeSplit(TIMEZONE, train_end="2013-01-05", valid_end="2013-01-25"),
    )
    return Path(strong.model_dir), Path(weak.model_dir)


def test_gate_rejects_a_weaker_challenger_against_the_champion(
    slice_training_frame, two_models, tmp_path
):
    strong, weak = two_models
    gate = GateConfig(min_auc=0.5, champion_tolerance=0.005, max_slice_gap=1.0)
    weaker = evaluate(slice_training_frame, weak, tmp_path / "a.html", gate, strong, "1")
    checks = {c["name"]: c for c in weaker.gate}
    assert weaker.champion["roc_auc"] > weaker.holdout_auc + 0.005
    assert not checks["vs_champion"].get("passed") and not weaker.passed
    stronger = evaluate(slice_training_frame, strong, tmp_path / "b.html", gate, weak, "2")
    assert {c["name"]: c for c in stronger.gate}["vs_champion"]["passed"]
    assert '<img src="data:image/png;base64,' in (tmp_path / "b.html").read_text()


def test_each_reference_is_evaluated_at_its_own_threshold(
    slice_training_frame, two_models, tmp_path
):
    strong, _ = two_models
    result = evaluate(slice_training_frame, strong, tmp_path / "e.html", GateConfig(min_auc=0.5))
    assert set(result.baselines) == {"base_rate", "logistic", "gbdt"}
    layout = ModelArtifact(strong).layout
    parts = JANUARY.split(pd.read_parquet(slice_training_frame), ENTITY_TIMESTAMP)
    splits = Splits(*parts.values(), layout.categorical, layout.numeric, "delayed")
    for name, fit in REFERENCES.items():
        own = best_f1_threshold(parts["valid"]["delayed"].to_numpy(), fit(splits).valid)
        assert result.baselines[name]["threshold"] == pytest.approx(own)
        assert own != pytest.approx(result.metrics["threshold"], abs=1e-3)  # not the network's
        assert 0.5 < result.baselines[name]["roc_auc"] < 1
    report = (tmp_path / "e.html").read_text()
    assert "<td>gbdt</td>" in report and "<td>logistic</td>" in report


def test_registration_is_idempotent_per_pipeline_run(slice_training_frame, two_models, tmp_path):
    strong, _ = two_models
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    evaluation = evaluate(
        slice_training_frame, strong, tmp_path / "e.html", GateConfig(min_auc=0.5)
    ).to_dict()
    args = dict(
        artifact_root=(tmp_path / "artifacts").as_uri(),
        model_dir=strong,
        evaluation=evaluation,
        tracking_uri=uri,
        lineage={"data_version": "v"},
    )
    first = register(pipeline_run_id="run-a", **args)
    retried = register(pipeline_run_id="run-a", **args)
    other = register(pipeline_run_id="run-b", **args)
    assert (first.version, first.reused) == ("1", False)
    assert (retried.version, retried.reused) == ("1", True)
    assert (other.version, other.reused) == ("2", False)
    versions = client(uri).search_model_versions("name = 'sluice-flights'")
    assert len(versions) == 2
    for result in (first, other):  # each version's artifacts name the version
        registry = client(uri)
        copy = download_version(
            registry,
            registry.get_model_version(MODEL_NAME, result.version),
            tmp_path / result.version,
        )
        assert ModelArtifact(copy).version == result.version


class Killed(BaseException):
    """The pod dies: not an Exception, so nothing on the way catches it."""


# Every registry write register makes, in order: the task is killed right after each.
KILL_POINTS = (
    "create_run",
    "finalize_logged_model",
    "create_registered_model",
    "create_model_version",
    "log_model_artifact",
    "set_registered_model_alias",
)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_register_killed_at_any_point_and_rerun_leaves_one_complete_version(
    slice_training_frame, two_models, tmp_path, monkeypatch, point
):
    from mlflow.tracking import MlflowClient

    model, _ = two_models
    evaluation = evaluate(slice_training_frame, model, tmp_path / "r.html", GateConfig(min_auc=0.5))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = {
        "model_dir": model,
        "evaluation": evaluation.to_dict(),
        "tracking_uri": uri,
        "pipeline_run_id": "run-killed",
        "lineage": {"data_version": "test"},
        "artifact_root": (tmp_path / "artifacts").as_uri(),
    }
    real = getattr(MlflowClient, point)

    def dies_after(self, *a, **k):
        real(self, *a, **k)
        raise Killed(point)

    monkeypatch.setattr(MlflowClient, point, dies_after)
    with pytest.raises(Killed):
        register(**args)
    monkeypatch.undo()

    retried = register(**args)
    registry = client(uri)
    versions = registry.search_model_versions(f"name = '{MODEL_NAME}'")
    assert [str(v.version) for v in versions] == ["1"] and retried.version == "1"
    assert retried.reused is (point in KILL_POINTS[3:])  # the version outlived the kill
    assert versions[0].tags["sluice.pipeline_run_id"] == "run-killed"
    assert versions[0].tags["sluice.data_version"] == "test"
    assert str(registry.get_model_version_by_alias(MODEL_NAME, "challenger").version) == "1"
    copy = ModelArtifact(download_version(registry, versions[0], tmp_path / "copy"))
    assert copy.version == "1"  # its artifacts, stamped with the version
    runs = registry.search_runs([registry.get_experiment_by_name(MODEL_NAME).experiment_id])
    assert len(runs) == 1 and versions[0].run_id == runs[0].info.run_id
    logged = registry.search_logged_models([runs[0].info.experiment_id])
    ready = [m.model_id for m in logged if str(m.status).endswith("READY")]
    assert [f"models:/{m}" for m in ready] == [versions[0].source]  # one, the version's


def test_an_unreachable_server_is_named_without_its_password(caplog, capfd):
    uri = "http://alice:pw-0d9e1f@127.0.0.1:9"
    with pytest.raises(RegistryUnavailable) as error:
        client(uri, attempts=1, max_wait_s=0.1)
    assert "http://alice:***@127.0.0.1:9: unreachable" in str(error.value)
    said = capfd.readouterr()
    for text in (str(error.value), caplog.text, said.out, said.err):
        assert "pw-0d9e1f" not in text


def test_unreachable_tracking_server_fails_with_the_uri():
    uri = "http://127.0.0.1:9"
    started = time.perf_counter()
    with pytest.raises(RegistryUnavailable, match="http://127.0.0.1:9: unreachable after 2"):
        client(uri, attempts=2, max_wait_s=0.5)
    assert time.perf_counter() - started < 30
