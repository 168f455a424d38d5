"""Hyperparameter search with Ray Tune: each trial is a Ray Train `TorchTrainer` fit (DDP,
as an untuned run) that reports validation loss every epoch, stopped early by ASHA. Ray is
imported here, so `components.train` imports this module only when it tunes.

The best trial's last checkpoint is the final model: it holds the weights with that trial's
lowest validation loss, which is the score the trial was ranked by, so training its
configuration again (same data, seed and workers) would only repeat the fit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from ray import tune
from ray._raylet import PlacementGroupID
from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

from components.base.storage import Location
from components.train.launch import FitOutcome, load_state, ray_trainer, start_ray
from components.train.search_space import SearchSpace, with_point
from components.train.session import PLACEMENT_GROUP

METRIC, MODE = "val_loss", "min"
"""What ranks the trials: the loop stops early on validation loss and keeps the weights of
its lowest, so the ranked score is the score of the model a trial leaves."""


@dataclass
class Trial:
    trial_id: str
    point: dict
    history: list[dict]
    """Each epoch's metrics, as the loop reported them."""
    checkpoint_path: str | None
    error: str | None = None

    @property
    def score(self) -> float:
        """The trial's lowest validation loss (inf when it reported none)."""
        return min((float(m[METRIC]) for m in self.history), default=math.inf)

    @property
    def stopped_early(self) -> bool:
        """Stopped by ASHA: no error, and it reported neither the loop's own stop nor its
        last epoch."""
        return not self.error and bool(self.history) and not self.history[-1].get("stopped")

    def record(self) -> dict:
        """The trial as `components.base.tracking.log_trials` logs it."""
        return {
            "trial_id": self.trial_id,
            "params": self.point,
            "history": self.history,
            "score": {f"best_{METRIC}": self.score},
            "stopped_early": self.stopped_early,
            "error": self.error,
        }


@dataclass
class TuneOutcome:
    trials: list[Trial]
    best: Trial
    fit: FitOutcome
    """The best trial's fit: its last checkpoint, with its best weights."""


def _trial(point: dict, config: dict, arrays: dict, name: str, launch: dict) -> None:
    """One trial: a Ray Train fit at `point`, named by the trial, its reports forwarded
    to Tune."""
    import ray
    from ray.tune.integration.ray_train import TuneReportCallback

    trainer = ray_trainer(
        with_point(config, point),
        ray.put(arrays),  # Tune hands the trial the arrays themselves, not their reference
        name=f"{name}-{tune.get_context().get_trial_id()}",
        callbacks=(TuneReportCallback(),),
        **launch,
    )
    result = trainer.fit()
    if result.error:
        raise result.error


class ReleaseWorkers(tune.Callback):
    """Removes the placement group of each ended trial's Ray Train workers. A trial that
    Tune stops (ASHA, or its last epoch) is killed with its trainer, and Ray Train's own
    clean-up for that case asks Ray's state API (the dashboard, not installed): without
    this the next trial would wait forever for the workers' CPUs or GPUs."""

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._release(trial.last_result)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._release(trial.last_result)

    @staticmethod
    def _release(last_result: dict | None) -> None:
        reported = (last_result or {}).get(PLACEMENT_GROUP)
        if not reported:
            return
        group = PlacementGroup(PlacementGroupID.from_hex(reported))
        if placement_group_table(group).get("state") not in (None, "REMOVED"):
            remove_placement_group(group)


def _trials(results) -> list[Trial]:
    trials = []
    for result in results:
        frame = result.metrics_dataframe
        rows = [] if frame is None else frame.to_dict("records")
        history = [r for r in rows if METRIC in r and r[METRIC] == r[METRIC]]
        paths = [r["checkpoint_path"] for r in rows if isinstance(r.get("checkpoint_path"), str)]
        trials.append(
            Trial(
                trial_id=str(result.metrics.get("trial_id") or Path(result.path).name),
                point=dict(result.config),
                history=history,
                checkpoint_path=paths[-1] if paths else None,
                error=None if result.error is None else str(result.error),
            )
        )
    return sorted(trials, key=lambda trial: trial.trial_id)


def tune_with_ray(
    config: dict,
    arrays: dict,
    start: dict,
    space: SearchSpace,
    trials: int,
    num_workers: int,
    use_gpu: bool,
    storage: Location,
    name: str,
    max_failures: int = 1,
    seed: int = 0,
) -> TuneOutcome:
    """`trials` trials: `start` (the untuned point) first, then points drawn from `space`
    (seeded), as many at once as the cluster has workers for. Rerunning with the same
    `storage` and `name` restores the search: finished trials stay, unfinished ones go on
    from their checkpoints."""
    import ray
    from ray.train import Checkpoint
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    start_ray()
    launch = {
        "num_workers": num_workers,
        "use_gpu": use_gpu,
        "storage": storage,
        "max_failures": max_failures,
    }
    # A trial's function only waits on its trainer, so it takes no CPU from the workers;
    # Tune refuses an empty request, and one byte of memory is the nearest to none.
    trainable = tune.with_resources(
        tune.with_parameters(_trial, config=config, arrays=arrays, name=name, launch=launch),
        {"CPU": 0, "memory": 1},
    )
    fs = storage.filesystem if storage.remote else None
    experiment = f"{storage.path.rstrip('/')}/{name}"
    started = time.perf_counter()
    if tune.Tuner.can_restore(experiment, storage_filesystem=fs):
        tuner = tune.Tuner.restore(
            experiment, trainable, restart_errored=True, storage_filesystem=fs
        )
    else:
        per_trial = "GPU" if use_gpu else "CPU"
        at_once = max(1, int(ray.cluster_resources().get(per_trial, 1)) // num_workers)
        tuner = tune.Tuner(
            trainable,
            param_space=space.param_space(),
            tune_config=tune.TuneConfig(
                metric=METRIC,
                mode=MODE,
                num_samples=trials,
                search_alg=BasicVariantGenerator(
                    points_to_evaluate=[start], max_concurrent=at_once, random_state=seed
                ),
                scheduler=ASHAScheduler(
                    max_t=config["epochs"],
                    grace_period=min(space.grace_period, config["epochs"]),
                    reduction_factor=space.reduction_factor,
                ),
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage.path,
                storage_filesystem=fs,
                callbacks=[ReleaseWorkers()],
                verbose=1,
            ),
        )
    found = _trials(tuner.fit())
    ranked = sorted((t for t in found if t.checkpoint_path), key=lambda t: t.score)
    if not ranked:
        errors = "; ".join(f"{t.trial_id}: {t.error}" for t in found if t.error)
        raise RuntimeError(f"tuning: no trial finished an epoch ({errors or 'no errors'})")
    best = ranked[0]
    state = load_state(Checkpoint(best.checkpoint_path, storage.filesystem))
    backend = f"ray/{'nccl' if use_gpu else 'gloo'}"
    fit = FitOutcome(state, state["history"], time.perf_counter() - started, num_workers, backend)
    return TuneOutcome(found, best, fit)
