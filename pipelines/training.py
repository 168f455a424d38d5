"""The training pipeline: one `@dsl.pipeline` for the local runner and for Kubeflow."""

from kfp import dsl, kubernetes

from components.base.settings import get_settings
from components.evaluate.gate import GateConfig
from components.flights.schema import SPLIT
from components.rollout.config import DEFAULT_STEPS, RolloutConfig
from components.train import TrainParams
from pipelines import ops
from pipelines.cluster import configure

DEFAULT_REFERENCE_TIME = "2014-01-01T00:00:00-05:00"
ROLLOUT = RolloutConfig()
GATE = GateConfig()
TRAIN = TrainParams()


@dsl.pipeline(
    name="sluice-training",
    description="NYC flights delay model: ingest, validate (Great Expectations gate), "
    "featurize (Feast), train (Ray Train DDP), evaluate (gate), register (MLflow), and "
    "optionally a metric-gated canary rollout of the KServe InferenceService.",
)
def training_pipeline(
    source: str = "",
    reference_time: str = DEFAULT_REFERENCE_TIME,
    max_staleness_days: int = 31,
    horizon: str = "0",
    num_workers: int = 0,
    gpus: int = 0,
    epochs: int = TRAIN.epochs,
    tune_trials: int = 0,
    train_end: str = SPLIT.train_end,
    valid_end: str = SPLIT.valid_end,
    min_auc: float = GATE.min_auc,
    champion_tolerance: float = GATE.champion_tolerance,
    max_slice_gap: float = GATE.max_slice_gap,
    logistic_margin: float = GATE.logistic_margin,
    rollout: bool = False,
    rollout_steps: str = ",".join(map(str, DEFAULT_STEPS)),
    rollout_interval_s: float = ROLLOUT.interval_s,
    rollout_threshold: int = ROLLOUT.threshold,
    rollout_deadline_s: float = ROLLOUT.deadline_s,
):
    ingest = ops.ingest(source=source).set_display_name("ingest")
    ingest.set_retry(num_retries=2, backoff_duration="30s")
    version = ingest.outputs["Output"]

    validate = ops.validate(
        snapshot=ingest.outputs["snapshot"],
        data_version=version,
        reference_time=reference_time,
        max_staleness_days=max_staleness_days,
    ).set_display_name("validate")

    with dsl.If(validate.outputs["Output"] == True, name="data-valid"):  # noqa: E712
        featurize = ops.featurize(
            validated=validate.outputs["validated"], data_version=version, horizon=horizon
        ).set_display_name("featurize")
        featurize.set_retry(num_retries=2, backoff_duration="30s")

        # The GPU count is a run parameter: 0 asks for no GPU (gloo on CPU), n > 0 for n
        # GPUs (NCCL) and one worker per GPU (`worker_count`; num_workers 0: the default).
        # kfp.local cannot run dsl.OneOf over artifacts, so one task serves both rather
        # than an If/Else pair.
        train = ops.train(
            training_frame=featurize.outputs["training_frame"],
            data_version=version,
            pipeline_run=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            num_workers=num_workers,
            gpus=gpus,
            epochs=epochs,
            tune_trials=tune_trials,
            train_end=train_end,
            valid_end=valid_end,
        ).set_display_name("train")
        train.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(gpus)
        train.set_cpu_request("2").set_memory_request("8G").set_memory_limit("16G")
        train.set_retry(num_retries=1, backoff_duration="60s")  # resumes from a checkpoint
        kubernetes.empty_dir_mount(  # /dev/shm for NCCL's shared memory
            train, volume_name="dshm", mount_path="/dev/shm", medium="Memory", size_limit="8Gi"
        )
        model = train.outputs["model"]

        evaluate = ops.evaluate(
            training_frame=featurize.outputs["training_frame"],
            model=model,
            validation_report=validate.outputs["report"],
            data_version=version,
            min_auc=min_auc,
            champion_tolerance=champion_tolerance,
            max_slice_gap=max_slice_gap,
            logistic_margin=logistic_margin,
        ).set_display_name("evaluate")
        evaluate.set_retry(num_retries=1, backoff_duration="30s")

        with dsl.If(evaluate.outputs["Output"] == True, name="model-good"):  # noqa: E712
            register = ops.register(
                model=model,
                evaluation=evaluate.outputs["evaluation"],
                data_version=version,
                pipeline_run=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
            ).set_display_name("register")
            register.set_retry(num_retries=2, backoff_duration="30s")

            # On a cluster: the new version through a metric-gated canary (sluice rollout).
            with dsl.If(rollout == True, name="rollout"):  # noqa: E712
                canary = ops.rollout(
                    registration=register.outputs["registration"],
                    steps=rollout_steps,
                    interval_s=rollout_interval_s,
                    threshold=rollout_threshold,
                    deadline_s=rollout_deadline_s,
                ).set_display_name("rollout")

    settings = get_settings()  # every task: settings from the ConfigMap, credentials from Secrets
    for task in (ingest, validate, featurize, train, evaluate, register, canary):
        configure(task, settings)


PIPELINES = {"training": training_pipeline}
