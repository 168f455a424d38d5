"""The training pipeline: one `@dsl.pipeline` for the local runner and for Kubeflow."""

from kfp import dsl

from pipelines import ops

DEFAULT_REFERENCE_TIME = "2014-01-01T00:00:00-05:00"


@dsl.pipeline(
    name="sluice-training",
    description="Ingest, validate (Great Expectations gate) and featurize (Feast) the NYC "
    "flights data.",
)
def training_pipeline(
    source: str = "",
    reference_time: str = DEFAULT_REFERENCE_TIME,
    max_staleness_days: int = 31,
):
    ingest = ops.ingest(source=source).set_display_name("ingest")
    ingest.set_retry(num_retries=2, backoff_duration="30s")

    validate = ops.validate(
        snapshot=ingest.outputs["snapshot"],
        data_version=ingest.outputs["Output"],
        reference_time=reference_time,
        max_staleness_days=max_staleness_days,
    ).set_display_name("validate")

    with dsl.If(validate.outputs["Output"] == True, name="data-valid"):  # noqa: E712
        featurize = ops.featurize(
            validated=validate.outputs["validated"],
            data_version=ingest.outputs["Output"],
        ).set_display_name("featurize")
        featurize.set_retry(num_retries=2, backoff_duration="30s")


PIPELINES = {"training": training_pipeline}
