"""Train: a DDP tabular model through Ray Train, exported to ONNX with its metadata."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from components.base.contract.metadata import ModelMetadata
from components.base.contract.names import MODEL_FILE, MODEL_NAME
from components.base.decision import best_f1_threshold
from components.base.splits import TimeSplit
from components.base.storage import Location
from components.flights.features import (
    ENTITY_TIMESTAMP,
    feature_ranges,
    frame_horizon,
    horizon_minutes,
)
from components.flights.request import CATEGORICAL_FEATURES, REQUEST_FEATURES
from components.flights.schema import LABEL, SPLIT
from components.train.errors import TrainingConfigError
from components.train.preprocess import Preprocessing, TrainingDataError, check_training_frame
from components.train.search_space import TUNED_FIELDS, SearchSpace, hyperparameters, point_of

if TYPE_CHECKING:
    from components.train.launch import FitOutcome

__all__ = [
    "SearchSpace",
    "TrainParams",
    "TrainResult",
    "TrainingConfigError",
    "TrainingDataError",
    "run",
    "worker_count",
]
CPU_WORKERS = 2


def worker_count(num_workers: int, gpus: int) -> int:
    """DDP workers for a pod with `gpus` GPUs: one per GPU, since Ray Train gives each
    worker a GPU of its own and a worker beyond the pod's GPUs would wait for one forever;
    on CPU, `num_workers`. 0 asks for the default: one per GPU, or CPU_WORKERS on CPU."""
    if gpus < 0 or num_workers < 0:
        raise TrainingConfigError(
            f"gpus={gpus}, num_workers={num_workers}: neither may be negative"
        )
    if gpus == 0:
        return num_workers or CPU_WORKERS
    if num_workers not in (0, gpus):
        raise TrainingConfigError(
            f"num_workers={num_workers} with gpus={gpus}: each worker takes one GPU, so "
            f"num_workers must be {gpus} (or 0, one per GPU)"
        )
    return gpus


@dataclass
class TrainParams:
    epochs: int = 6
    batch_size: int = 1024
    lr: float = 4e-3
    patience: int = 2
    min_delta: float = 1e-4
    seed: int = 13
    embedding_dim: int = 8
    bins: int = 8
    """Piecewise-linear bins per numeric feature (`components.train.model.PiecewiseLinear`;
    0: none, each numeric only scaled)."""
    hidden: tuple[int, ...] = (128,)
    dropout: float = 0.25
    num_workers: int = CPU_WORKERS
    use_gpu: bool = False
    launcher: str = "ray"
    """`ray` (Ray Train DDP) or `single-process` (the plain PyTorch baseline)."""
    max_failures: int = 1
    split: TimeSplit = SPLIT
    reference_rows: int = 5000
    tune_trials: int = 0
    """Ray Tune trials over `search` before the final model (0: no search, these
    hyperparameters as they are)."""
    search: SearchSpace = SearchSpace()

    def __post_init__(self) -> None:
        if self.tune_trials < 0:
            raise TrainingConfigError(
                f"tune_trials={self.tune_trials}: must be 0 (no tuning) or a number of trials"
            )
        if self.tune_trials and self.launcher != "ray":
            raise TrainingConfigError(
                f"tune_trials={self.tune_trials} with launcher={self.launcher!r}: "
                "trials run as Ray Tune trials of Ray Train fits (launcher 'ray')"
            )
        if self.tune_trials:
            self.search.check(point_of(self))


@dataclass
class TrainResult:
    model_dir: str
    rows: dict[str, int]
    epochs_run: int
    best_val_loss: float
    val_auc: float
    threshold: float
    samples_per_second: float
    workers: int
    backend: str
    export_max_abs_diff: float
    resumed_from_epoch: int | None
    hyperparameters: dict
    """The final model's: `TrainParams`' own, or the best trial's when tuned."""
    tuning: dict | None = None
    """With tuning: the trials, the metric and the best trial (its MLflow run too)."""
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _arrays(prep: Preprocessing, splits: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    arrays = {}
    for name in ("train", "valid"):
        arrays[f"{name}_categorical"], arrays[f"{name}_numeric"] = prep.arrays(splits[name])
        arrays[f"{name}_label"] = splits[name][LABEL].to_numpy(dtype=np.int64)
    return arrays


@dataclass
class Prepared:
    prep: Preprocessing
    splits: dict[str, pd.DataFrame]
    arrays: dict[str, np.ndarray]
    config: dict
    """The training loop's config: model shape and optimisation settings."""


def prepare(frame: pd.DataFrame, features: list[str], params: TrainParams) -> Prepared:
    """Check the frame, split it by time, fit preprocessing on the train split and encode
    the train and validation arrays. Fails before any training starts."""
    check_training_frame(frame, features, LABEL)
    splits = params.split.split(frame, ENTITY_TIMESTAMP)
    for name, part in splits.items():
        if part.empty:
            raise TrainingDataError(f"time split: the {name} split is empty ({params.split})")
        if name != "holdout":
            check_training_frame(part, features, LABEL)
    categorical = [f for f in features if f in CATEGORICAL_FEATURES]
    numeric = [f for f in features if f not in CATEGORICAL_FEATURES]
    prep = Preprocessing.fit(splits["train"], categorical, numeric, params.bins)
    config = {
        "model": {
            "vocab_sizes": [len(prep.layout.vocabularies[c]) for c in categorical],
            "means": prep.means,
            "stds": prep.stds,
            "edges": prep.edges,
            "embedding_dim": params.embedding_dim,
            "hidden": tuple(params.hidden),
            "dropout": params.dropout,
        },
        **{k: getattr(params, k) for k in ("epochs", "batch_size", "lr", "patience", "seed")},
        "min_delta": params.min_delta,
    }
    return Prepared(prep, splits, _arrays(prep, splits), config)


def run(
    training_frame: Path,
    features: list[str],
    model_dir: Path,
    storage: Location | str | Path,
    run_name: str,
    params: TrainParams,
    lineage: dict | None = None,
    tracking_uri: str | None = None,
    artifact_root: str | None = None,
    data_uri: str | None = None,
) -> TrainResult:
    """`features` is the model's input order (from the feature service); `lineage` (data
    version, feature service, pipeline run …) is copied into the metadata. `storage` keeps
    Ray Train's checkpoints (a local directory or S3). With `tracking_uri`, training is the
    pipeline run's MLflow run: opened before the fit, so an unreachable server fails
    before any training is spent; `data_uri` (default: the frame's path) is the dataset
    input it records."""
    import torch

    from components.train.export import export_onnx, parity

    started = time.perf_counter()
    lineage = dict(lineage or {})
    mlflow_run = None
    if tracking_uri is not None:
        mlflow_run = _open_mlflow_run(tracking_uri, artifact_root, lineage)
        lineage["mlflow_run_id"] = mlflow_run[1]
    prepared = prepare(pd.read_parquet(training_frame), features, params)
    prep, arrays, splits = prepared.prep, prepared.arrays, prepared.splits
    fitted = _fit(prepared, params, Location.of(storage), run_name, mlflow_run)
    outcome, params, config = fitted.outcome, fitted.params, fitted.config
    net = outcome.trained_net(config["model"])

    from sklearn.metrics import roc_auc_score

    from components.train.export import eager_probability

    valid_scores = eager_probability(net, arrays["valid_categorical"], arrays["valid_numeric"])
    threshold = best_f1_threshold(arrays["valid_label"], valid_scores)
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    sample = splits["train"].sample(
        min(params.reference_rows, len(splits["train"])), random_state=params.seed
    )
    scored = np.random.default_rng(params.seed).permutation(len(valid_scores))
    score_reference = np.round(valid_scores[scored[: params.reference_rows]], 6).tolist()
    export_onnx(net, prep.layout, model_dir / MODEL_FILE)
    # Raw rows of both splits: the validation months bring categories training never saw.
    checked = pd.concat([sample, splits["valid"].iloc[scored[: params.reference_rows]]])
    max_diff = parity(net, model_dir / MODEL_FILE, prep.layout, checked)
    if max_diff > 1e-5:
        raise RuntimeError(f"ONNX export differs from eager by {max_diff:.2e} (limit 1e-5)")
    last = outcome.state["metrics"]
    resumed = [m.get("resumed_from_epoch") for m in outcome.history]
    resumed_from = next((int(r) for r in resumed if r is not None and r == r), None)
    result = TrainResult(
        model_dir=str(model_dir),
        rows={name: len(part) for name, part in splits.items()},
        epochs_run=int(last["epoch"]) + 1,
        best_val_loss=float(outcome.state["best_loss"]),
        val_auc=float(roc_auc_score(arrays["valid_label"], valid_scores)),
        threshold=threshold,
        samples_per_second=float(np.mean([m["samples_per_second"] for m in outcome.history])),
        workers=outcome.workers,
        backend=outcome.backend,
        export_max_abs_diff=max_diff,
        resumed_from_epoch=resumed_from,
        hyperparameters={k: getattr(params, k) for k in TUNED_FIELDS},
        tuning=fitted.tuning,
        seconds=round(time.perf_counter() - started, 3),
    )
    ModelMetadata(
        features=features,
        **prep.metadata(),
        threshold=threshold,
        label=LABEL,
        time_split=asdict(params.split),
        # What a server accepts: every feature must be sent; these may not be null.
        required=[f for f in features if f in REQUEST_FEATURES],
        valid_ranges={f: list(r) for f, r in feature_ranges().items() if f in features},
        reference_sample={
            c: sample[c].astype(object).where(sample[c].notna(), None).tolist() for c in features
        },
        score_reference=score_reference,
        horizon_minutes=horizon_minutes(frame_horizon(training_frame)),
        extra={
            "model_name": MODEL_NAME,
            "format": "onnx",
            "inputs": "one per feature, by name: string[batch] for the categorical ones, "
            "float32[batch] for the numeric ones (NaN: missing)",
            "outputs": {
                "probability": "float32[batch]",
                "unseen": "int64[batch]: bit j set where categorical feature j was not in "
                "its vocabulary",
            },
            "normalisation": {"mean": prep.means, "std": prep.stds, "edges": prep.edges},
            "trained_at": datetime.now(UTC).isoformat(),
            "training": {k: v for k, v in result.to_dict().items() if k != "model_dir"},
            "torch_version": torch.__version__,
            **lineage,
        },
    ).write(model_dir)
    if mlflow_run is not None:
        from components.base.tracking import log_training

        mlflow_client, run_id = mlflow_run
        skipped = ("split", "launcher", "search")
        logged = {k: v for k, v in asdict(params).items() if k not in skipped}
        logged |= {f"split_{k}": v for k, v in asdict(params.split).items()}
        log_training(
            mlflow_client,
            run_id,
            params=logged | {"features": len(features), "backend": result.backend},
            history=outcome.history,
            data_version=lineage.get("data_version", "unknown"),
            data_uri=data_uri or str(training_frame),
        )
        mlflow_client.set_terminated(run_id)
    return result


@dataclass
class Fitted:
    outcome: FitOutcome
    params: TrainParams
    """The parameters the model was trained with: the best trial's, when tuned."""
    config: dict
    tuning: dict | None = None


def _fit(
    prepared: Prepared, params: TrainParams, storage: Location, run_name: str, mlflow_run
) -> Fitted:
    """One fit; or, with `tune_trials`, a search whose best trial's checkpoint is the
    model (`components.train.tuning`), each trial logged as a nested MLflow run."""
    from components.train.launch import fit_single_process, fit_with_ray

    config, arrays = prepared.config, prepared.arrays
    if params.launcher == "single-process":
        device = "cuda" if params.use_gpu else "cpu"
        return Fitted(fit_single_process(config, arrays, device), params, config)
    if not params.tune_trials:
        outcome = fit_with_ray(
            config,
            arrays,
            num_workers=params.num_workers,
            use_gpu=params.use_gpu,
            storage=storage,
            name=run_name,
            max_failures=params.max_failures,
        )
        return Fitted(outcome, params, config)
    from components.train.search_space import with_point
    from components.train.tuning import METRIC, MODE, tune_with_ray

    tuned = tune_with_ray(
        config,
        arrays,
        start=point_of(params),
        space=params.search,
        trials=params.tune_trials,
        num_workers=params.num_workers,
        use_gpu=params.use_gpu,
        storage=storage,
        name=f"{run_name}-tune",
        max_failures=params.max_failures,
        seed=params.seed,
    )
    runs = {}
    if mlflow_run is not None:
        from components.base.tracking import log_trials

        runs = log_trials(*mlflow_run, [trial.record() for trial in tuned.trials])
    best = tuned.best
    tuning = {
        "trials": len(tuned.trials),
        "stopped_early": sum(trial.stopped_early for trial in tuned.trials),
        "metric": METRIC,
        "mode": MODE,
        "best_trial": best.trial_id,
        "best_score": best.score,
        "best_mlflow_run_id": runs.get(best.trial_id),
        "search_space": asdict(params.search),
    }
    return Fitted(
        tuned.fit,
        replace(params, **hyperparameters(best.point)),
        with_point(config, best.point),
        tuning,
    )


def _open_mlflow_run(tracking_uri: str, artifact_root: str | None, lineage: dict):
    from components.base.registry import client
    from components.base.tracking import pipeline_run

    mlflow_client = client(tracking_uri)
    tags = {f"sluice.{k}": str(v) for k, v in lineage.items() if k != "pipeline_run_id"}
    run_id = pipeline_run(
        mlflow_client, lineage.get("pipeline_run_id", "local"), tags, artifact_root
    )
    return mlflow_client, run_id
