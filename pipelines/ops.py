"""Thin KFP wrappers: each body imports its step from `components` and calls `run`.

Bodies run inside the project image (`base_image`), which already has sluice installed,
so `install_kfp_package=False` keeps pods from pip-installing at start-up. A step's result
goes into its main output artifact's metadata, where the dashboard and the local runner's
summary both read it. (No `from __future__ import annotations` here: KFP reads the
annotations as real types.)
"""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Output

from components.settings import get_settings

IMAGE = get_settings().image


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def ingest(source: str, snapshot: Output[Dataset]) -> str:
    """Snapshot the raw tables; returns the content-hash data version."""
    from pathlib import Path

    from components.ingest import SourceError, run
    from components.settings import get_settings

    try:
        result = run(source, get_settings().snapshots_dir, Path(snapshot.path))
    except SourceError as exc:
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
def featurize(validated: Input[Dataset], data_version: str, training_frame: Output[Dataset]) -> int:
    """Feast apply and materialize, then the point-in-time training frame; returns rows."""
    from pathlib import Path

    from components.featurize import run
    from components.settings import get_settings

    settings = get_settings()
    result = run(
        validated_dir=Path(validated.path),
        repo_dir=settings.feature_repo_dir,
        training_frame_path=Path(training_frame.path),
        online_store=settings.online_store,
        offline_store=settings.offline_store,
        redis_connection=settings.redis_connection,
    )
    training_frame.metadata.update({"data_version": data_version, **result.to_dict()})
    return result.rows
