"""`sluice trigger`: the retrain trigger service (`pipelines/trigger/`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from components.base.settings import get_settings
from pipelines.cli.app import app, console, fail
from pipelines.cli.runs import pipeline_params
from pipelines.cli.submit import ExperimentOption, PackageOption, ParamOption

trigger_app = typer.Typer(no_args_is_help=True, help="The retrain trigger service.")
app.add_typer(trigger_app, name="trigger")


@trigger_app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8095,
    local: Annotated[
        bool,
        typer.Option(help="Start a local `sluice run` per trigger instead of a KFP run."),
    ] = False,
    cooldown_hours: Annotated[
        float, typer.Option(min=0, help="After a run starts, start none for this long.")
    ] = 6.0,
    max_runs_per_day: Annotated[
        int, typer.Option(min=1, help="At most this many runs in any 24 hours.")
    ] = 4,
    param: ParamOption = None,
    package: PackageOption = None,
    experiment: ExperimentOption = "sluice",
) -> None:
    """Serve POST /v1/drift and /v1/alertmanager: each drift report starts a retraining run
    with reference_time = now, unless the cooldown or the rate limit holds it back."""
    import uvicorn

    from pipelines.trigger.audit import AuditLog
    from pipelines.trigger.metrics import TriggerMetrics
    from pipelines.trigger.policy import Limits, Trigger
    from pipelines.trigger.service import create_app
    from pipelines.trigger.starters import KfpStarter, LocalStarter

    settings = get_settings()
    fixed = pipeline_params(param or [])
    if local:
        start = LocalStarter(settings.home / "trigger", fixed)
        where = "local `sluice run`"
    else:
        from pipelines.compile import COMPILED_DIR

        package = package or COMPILED_DIR / "training.yaml"
        if not settings.kfp_endpoint:
            raise fail("no KFP endpoint: set KF_PIPELINES_ENDPOINT, or serve with --local")
        if not package.is_file():
            raise fail(f"pipeline package {escape(str(package))} not found: run `sluice compile`")
        start = KfpStarter(settings, package, experiment, fixed)
        where = f"KFP runs in experiment {escape(experiment)}"
    limits = Limits(timedelta(hours=cooldown_hours), max_runs_per_day)
    audit = AuditLog(settings.trigger_state_path)
    trigger = Trigger(audit, start, TriggerMetrics(), limits)
    console.print(
        f"retrain trigger on http://{host}:{port}: {where}; cooldown {cooldown_hours:g} h, "
        f"at most {max_runs_per_day} runs a day; state in {settings.trigger_state_path}",
        soft_wrap=True,
    )
    uvicorn.run(create_app(trigger), host=host, port=port, log_level="info")


@trigger_app.command()
def audit(
    limit: Annotated[int, typer.Option(min=1, help="The latest this many entries.")] = 50,
    state: Annotated[
        Path | None, typer.Option(help="The state file; default SLUICE_TRIGGER_STATE.")
    ] = None,
) -> None:
    """Print the trigger's audit log as JSON lines, oldest first."""
    from pipelines.trigger.audit import AuditLog

    path = state or get_settings().trigger_state_path
    if not path.is_file():
        raise fail(f"no trigger state at {escape(str(path))}")
    for entry in AuditLog(path).entries(limit):
        print(entry.json_line())
