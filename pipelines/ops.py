"""Thin KFP wrappers: each body imports its step from `components` and calls `run`.

Bodies run inside the project image (`base_image`), which already has sluice installed,
so `install_kfp_package=False` keeps pods from pip-installing at start-up. A step's result
goes into its main output artifact's metadata, where the dashboard and the local runner's
summary both read it. (No `from __future__ import annotations` here: KFP reads the
annotations as real types.)
"""

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from components.base.settings import get_settings

IMAGE = get_settings().image


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(source: str, snapshot: Output[Dataset]) -> str:
    """Snapshot the raw tables; returns the content-hash data version."""
    from pathlib import Path

    from components.base.services import ServiceUnavailable
    from components.base.settings import get_settings
    from components.ingest import SourceError, run

    settings = get_settings()
    try:
        result = run(source, settings.location(settings.snapshots), Path(snapshot.path))
    except (SourceError, ServiceUnavailable) as exc:
        raise SystemExit(f"ingest: {exc}") from None
    snapshot.metadata.update(result.to_dict())
    return result.version


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate(
    snapshot: Input[Dataset],
    data_version: str,
    reference_time: str,
    max_staleness_days: int,
    validated: Output[Dataset],
    quarantine: Output[Dataset],
    report: Output[HTML],
) -> bool:
    """Great Expectations gate; returns whether every blocking expectation passed."""
    from pathlib import Path

    from components.validate import run

    result = run(
        snapshot_dir=Path(snapshot.path),
        validated_dir=Path(validated.path),
        quarantine_dir=Path(quarantine.path),
        report_json=Path(validated.path) / "validation.json",
        report_html=Path(report.path),
        reference_time=reference_time,
        max_staleness_days=max_staleness_days,
    )
    validated.metadata.update({"data_version": data_version, **result.to_dict()})
    quarantine.metadata.update({"rows": result.quarantined})
    for failure in result.failures:
        print(f"BLOCKING {failure['message']}")
    for warning in result.warnings:
        print(f"WARNING  {warning['message']}")
    return result.passed


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def featurize(
    validated: Input[Dataset], data_version: str, horizon: str, training_frame: Output[Dataset]
) -> int:
    """Feast apply and materialize, then the point-in-time training frame, every feature
    read `horizon` before the scheduled departure; returns rows."""
    from pathlib import Path

    from components.base.services import ServiceUnavailable
    from components.base.settings import get_settings
    from components.featurize import run
    from components.flights.feature_repo.store import FeastStores
    from components.flights.features import parse_horizon

    settings = get_settings()
    try:
        result = run(
            validated_dir=Path(validated.path),
            repo_dir=settings.feature_repo_dir,
            training_frame_path=Path(training_frame.path),
            stores=FeastStores.from_settings(settings),
            data_version=data_version,
            horizon=parse_horizon(horizon),
        )
    except (ServiceUnavailable, ValueError) as exc:
        raise SystemExit(f"featurize: {exc}") from None
    training_frame.metadata.update({"data_version": data_version, **result.to_dict()})
    return result.rows


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train(
    training_frame: Input[Dataset],
    data_version: str,
    pipeline_run: str,
    num_workers: int,
    gpus: int,
    epochs: int,
    train_end: str,
    valid_end: str,
    tune_trials: int,
    model: Output[Model],
) -> float:
    """Ray Train DDP (gloo on CPU, NCCL when gpus > 0), with tune_trials > 0 the best of a
    Ray Tune search (ASHA), exported to ONNX; returns val AUC."""
    from pathlib import Path

    from components.base.services import ServiceUnavailable
    from components.base.settings import get_settings
    from components.base.splits import TimeSplit
    from components.flights.schema import TIMEZONE
    from components.train import (
        TrainingConfigError,
        TrainingDataError,
        TrainParams,
        run,
        worker_count,
    )

    settings = get_settings()
    try:
        params = TrainParams(
            epochs=epochs,
            num_workers=worker_count(num_workers, gpus),
            use_gpu=gpus > 0,
            split=TimeSplit(TIMEZONE, train_end=train_end, valid_end=valid_end),
            tune_trials=tune_trials,
        )
        result = run(
            training_frame=Path(training_frame.path),
            features=list(training_frame.metadata["features"]),
            model_dir=Path(model.path),
            storage=settings.location(settings.ray_storage),
            run_name=f"train-{pipeline_run}",
            params=params,
            lineage={
                "data_version": data_version,
                "feature_service": training_frame.metadata["feature_service"],
                "pipeline_run_id": pipeline_run,
            },
            tracking_uri=settings.tracking_uri,
            artifact_root=settings.artifact_root,
            data_uri=training_frame.uri,
        )
    except (TrainingConfigError, TrainingDataError, ServiceUnavailable) as exc:
        raise SystemExit(f"train: {exc}") from None
    model.framework = "onnx"
    model.metadata.update({"data_version": data_version, **result.to_dict()})
    return result.val_auc


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(
    training_frame: Input[Dataset],
    model: Input[Model],
    validation_report: Input[HTML],
    data_version: str,
    min_auc: float,
    champion_tolerance: float,
    max_slice_gap: float,
    logistic_margin: float,
    metrics: Output[Metrics],
    classification: Output[ClassificationMetrics],
    report: Output[HTML],
    evaluation: Output[Artifact],
) -> bool:
    """Holdout metrics, baselines and the champion; returns whether the gate passed."""
    import tempfile
    from pathlib import Path

    from components.base.registry import (
        CHAMPION,
        RegistryUnavailable,
        alias_version,
        client,
        download_version,
    )
    from components.base.settings import get_settings
    from components.evaluate import GateConfig, record, run, write_json

    settings = get_settings()
    uri = settings.tracking_uri
    try:
        gate_config = GateConfig(min_auc, champion_tolerance, max_slice_gap, logistic_margin)
    except ValueError as exc:
        raise SystemExit(f"evaluate: {exc}") from None
    with tempfile.TemporaryDirectory() as scratch:
        try:
            registry = client(uri)
            champion = alias_version(registry, CHAMPION)
        except RegistryUnavailable as exc:
            raise SystemExit(f"evaluate: {exc}") from None
        result = run(
            training_frame=Path(training_frame.path),
            model_dir=Path(model.path),
            report_html=Path(report.path),
            gate_config=gate_config,
            champion_dir=(
                None if champion is None else download_version(registry, champion, Path(scratch))
            ),
            champion_version=None if champion is None else str(champion.version),
        )
    # On the training run, passed or not: a failed challenger keeps its evaluation.
    reports = {"evaluation": Path(report.path), "validation": Path(validation_report.path)}
    record(result, Path(model.path), reports, registry, settings.artifact_root)
    for name, value in result.metrics.items():
        metrics.log_metric(name, value)
    for baseline, values in result.baselines.items():
        metrics.log_metric(f"{baseline}_roc_auc", values["roc_auc"])
    metrics.log_metric("slice_gap", result.slice_gap)
    curve = result.roc_curve
    classification.log_roc_curve(curve["fpr"], curve["tpr"], curve["thresholds"])
    classification.log_confusion_matrix(["on time", "delayed"], result.confusion_matrix)
    write_json(result, Path(evaluation.path))
    summary = result.to_dict()
    for bulky in ("roc_curve", "slices"):
        summary.pop(bulky)
    evaluation.metadata.update({"data_version": data_version, **summary})
    for check in result.gate:
        print(f"gate {check['name']}: {'pass' if check['passed'] else 'FAIL'} {check['detail']}")
    return result.passed


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(
    model: Input[Model],
    evaluation: Input[Artifact],
    data_version: str,
    pipeline_run: str,
    registration: Output[Artifact],
) -> str:
    """A new MLflow model version aliased `challenger` (idempotent per pipeline run)."""
    import json
    from pathlib import Path

    from components.base.registry import RegistryUnavailable
    from components.base.settings import get_settings
    from components.register import run

    settings = get_settings()
    try:
        result = run(
            model_dir=Path(model.path),
            evaluation=json.loads(Path(evaluation.path).read_text()),
            tracking_uri=settings.tracking_uri,
            artifact_root=settings.artifact_root,
            pipeline_run_id=pipeline_run,
            lineage={
                "data_version": data_version,
                "feature_service": model.metadata.get("feature_service", ""),
            },
        )
    except RegistryUnavailable as exc:
        raise SystemExit(f"register: {exc}") from None
    Path(registration.path).write_text(json.dumps(result.to_dict(), indent=2))
    registration.metadata.update(result.to_dict())
    return result.version


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def rollout(
    registration: Input[Artifact],
    steps: str,
    interval_s: float,
    threshold: int,
    deadline_s: float,
    report: Output[HTML],
    decisions: Output[Artifact],
) -> str:
    """The registered version through a metric-gated canary of the InferenceService:
    promoted (MLflow `champion`) or rolled back. Runs as a ServiceAccount the chart's
    rollout Role is bound to."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from components.base.registry import client, storage_uri
    from components.base.settings import get_settings
    from components.rollout import RolloutConfig, run

    settings = get_settings()
    version = json.loads(Path(registration.path).read_text())["version"]
    config = RolloutConfig(
        name=settings.inference_service,
        namespace=settings.namespace,
        steps=tuple(int(s) for s in steps.split(",")),
        interval_s=interval_s,
        threshold=threshold,
        deadline_s=deadline_s,
    )
    out = Path(tempfile.mkdtemp())
    result = run(
        version,
        storage_uri(client(settings.tracking_uri), version, settings.mlflow_artifacts_uri),
        config,
        settings.prometheus_url,
        settings.tracking_uri,
        out,
    )
    shutil.copy(out / "rollout.html", report.path)
    shutil.copy(out / "rollout.json", decisions.path)
    decisions.metadata.update({"result": result.result, "reason": result.reason})
    print(f"rollout of v{version}: {result.result}: {result.reason}")
    return result.result
