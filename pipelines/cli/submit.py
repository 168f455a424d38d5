"""Submit and schedule the compiled pipeline on Kubeflow Pipelines (`pipelines/submit.py`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from components.base.settings import Settings, get_settings
from pipelines.cli.app import app, console, fail
from pipelines.cli.runs import pipeline_params

ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        help="A pipeline parameter as NAME=VALUE, typed as the pipeline declares it "
        "(`sluice run --help` lists them); repeatable."
    ),
]
PackageOption = Annotated[
    Path | None,
    typer.Option(help="The compiled pipeline; default pipelines/compiled/training.yaml."),
]
ExperimentOption = Annotated[str, typer.Option(help="The KFP experiment, created if missing.")]
VersionOption = Annotated[
    str | None,
    typer.Option(help="Name of the pipeline version; default <package version>-<UTC time>."),
]
PipelineIdOption = Annotated[
    str | None,
    typer.Option(help="Add the version to this pipeline instead of the one named in the package."),
]
RunNameOption = Annotated[
    str | None, typer.Option(help="The run's name; default <pipeline> <version>.")
]


@app.command()
def submit(
    param: ParamOption = None,
    package: PackageOption = None,
    experiment: ExperimentOption = "sluice",
    version_name: VersionOption = None,
    pipeline_id: PipelineIdOption = None,
    run_name: RunNameOption = None,
    run: Annotated[
        bool, typer.Option(help="Run the new version once (--no-run: upload it only, as CI does).")
    ] = True,
) -> None:
    """Upload the compiled pipeline as a new version and run it once on Kubeflow Pipelines."""
    from pipelines import submit as kfp_submit

    run_id = None
    with _new_version(param, package, version_name, pipeline_id) as new:
        if run:
            run_id = kfp_submit.submit_run(
                new.client,
                experiment,
                run_name or f"{new.name} {new.version_name}",
                *new.ids,
                new.params,
            )
    if run_id is None:
        return
    console.print(f"run {run_id} in experiment {escape(experiment)}", soft_wrap=True)
    console.print(kfp_submit.run_url(new.settings.kfp_endpoint, run_id), soft_wrap=True)


@app.command()
def schedule(
    cron: Annotated[
        str,
        typer.Option(
            help="KFP's 6-field cron, seconds first: second minute hour day-of-month month "
            "day-of-week, e.g. '0 0 9 * * MON-FRI'."
        ),
    ],
    max_concurrency: Annotated[
        int, typer.Option(min=1, max=10, help="Runs of the schedule at once (KFP: 1 to 10).")
    ] = 1,
    catchup: Annotated[
        bool,
        typer.Option(
            help="After a pause, start one run per missed interval (--catchup) or only the "
            "latest (--no-catchup)."
        ),
    ] = False,
    param: ParamOption = None,
    package: PackageOption = None,
    experiment: ExperimentOption = "sluice",
    version_name: VersionOption = None,
    pipeline_id: PipelineIdOption = None,
    run_name: Annotated[
        str | None, typer.Option(help="The recurring run's name; default <pipeline> <cron>.")
    ] = None,
) -> None:
    """Upload the compiled pipeline as a new version and run it on a cron schedule."""
    from pipelines import submit as kfp_submit

    try:  # refused before anything reaches KFP, which would read 5 fields another way
        cron = kfp_submit.check_cron(cron)
    except ValueError as exc:
        raise fail(f"--cron {escape(str(exc))}") from None
    with _new_version(param, package, version_name, pipeline_id) as new:
        recurring_id = kfp_submit.schedule(
            new.client,
            experiment,
            run_name or f"{new.name} {cron}",
            *new.ids,
            new.params,
            cron,
            max_concurrency=max_concurrency,
            catchup=catchup,
        )
    console.print(
        f"recurring run {recurring_id} in experiment {escape(experiment)}: {escape(cron)!r}, "
        f"at most {max_concurrency} at once, {'catching up' if catchup else 'no catchup'}",
        soft_wrap=True,
    )
    console.print(
        kfp_submit.recurring_run_url(new.settings.kfp_endpoint, recurring_id), soft_wrap=True
    )


@dataclass(frozen=True)
class NewVersion:
    settings: Settings
    client: Any
    name: str
    version_name: str
    ids: tuple[str, str]
    params: dict[str, Any]


@contextlib.contextmanager
def _new_version(
    param: list[str] | None, package: Path | None, version_name: str | None, pipeline_id: str | None
) -> Iterator[NewVersion]:
    """The inputs checked, then the package uploaded as a new version; what runs inside
    has KFP's failures turned into one error line, and the version is printed after."""
    from pipelines import submit as kfp_submit

    params, package, name = _inputs(param, package)
    version_name = version_name or kfp_submit.version_name()
    settings = get_settings()
    with _errors(settings):
        client = kfp_submit.connect(settings)
        ids = kfp_submit.upload(client, package, name, version_name, pipeline_id)
        yield NewVersion(settings, client, name, version_name, ids, params)
    _uploaded(name, version_name, ids)


def _inputs(param: list[str] | None, package: Path | None) -> tuple[dict[str, Any], Path, str]:
    """The typed parameters, the package and its pipeline's name: each checked before
    KFP is contacted."""
    from pipelines.compile import COMPILED_DIR
    from pipelines.submit import KfpError, pipeline_name

    params = pipeline_params(param or [])
    package = package or COMPILED_DIR / "training.yaml"
    if not package.is_file():
        raise fail(f"pipeline package {escape(str(package))} not found: run `sluice compile`")
    try:
        return params, package, pipeline_name(package)
    except KfpError as exc:
        raise fail(escape(str(exc))) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"pipeline package {escape(str(package))} cannot be read: {exc}") from None


@contextlib.contextmanager
def _errors(settings: Settings) -> Iterator[None]:
    """KFP's failures as one `error:` line and exit code 1."""
    from pipelines.submit import KfpError, kfp_errors

    try:
        with kfp_errors(settings):
            yield
    except KfpError as exc:
        raise fail(escape(str(exc)), code=1) from None


def _uploaded(name: str, version_name: str, ids: tuple[str, str]) -> None:
    console.print(
        f"pipeline {escape(name)} ({ids[0]}): version {escape(version_name)} ({ids[1]})",
        soft_wrap=True,
    )
