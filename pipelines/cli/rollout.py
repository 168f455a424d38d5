"""`sluice rollout`: a registered version through a metric-gated canary of the
InferenceService, promoted or rolled back by itself; `--dry-run` shows the plan, `--abort`
rolls an unfinished rollout back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from components.base.settings import get_settings
from components.rollout.config import DEFAULT_STEPS, RolloutConfig
from pipelines.cli.app import app, console, fail

DEFAULTS = RolloutConfig()
LIMITS = DEFAULTS.limits
STEPS = ",".join(map(str, DEFAULT_STEPS))


def _steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: comma-separated percentages") from None


@app.command()
def rollout(
    version: Annotated[
        str | None,
        typer.Argument(help="Registered version to roll out (default: the `challenger`)."),
    ] = None,
    storage_uri: Annotated[
        str | None,
        typer.Option(help="Where the version's model lives (default: from the registry)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="InferenceService (default: settings).")] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Its namespace (default: settings).")
    ] = None,
    steps: Annotated[str, typer.Option(help="Canary traffic shares, ending at 100.")] = STEPS,
    interval: Annotated[
        float, typer.Option(help="Seconds each step runs before analysis.")
    ] = DEFAULTS.interval_s,
    threshold: Annotated[
        int, typer.Option(help="Failed analyses before rollback.")
    ] = DEFAULTS.threshold,
    deadline: Annotated[
        float, typer.Option(help="Seconds before inconclusive fails.")
    ] = DEFAULTS.deadline_s,
    query_step: Annotated[
        float, typer.Option(help="Resolution of the p99 series, s.")
    ] = DEFAULTS.query_step_s,
    rate_window: Annotated[
        float, typer.Option(help="rate() window behind each p99, s.")
    ] = DEFAULTS.rate_window_s,
    min_requests: Annotated[
        int, typer.Option(help="Canary requests an analysis needs.")
    ] = LIMITS.min_requests,
    max_error_rate_increase: Annotated[float, typer.Option()] = LIMITS.max_error_rate_increase,
    max_latency_increase: Annotated[
        float, typer.Option(help="Share over the stable p99.")
    ] = LIMITS.max_latency_increase,
    max_psi: Annotated[
        float, typer.Option(help="Score-distribution shift allowed.")
    ] = LIMITS.max_psi,
    prometheus: Annotated[
        str | None, typer.Option(help="Prometheus URL (default: settings).")
    ] = None,
    template: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="InferenceService YAML to create it from when it does not exist.",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where the record goes.")] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve the rollout's metrics on this port while it runs.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    abort: Annotated[
        bool, typer.Option("--abort", help="Roll the unfinished rollout back.")
    ] = False,
    retry: Annotated[
        bool, typer.Option("--retry", help="Roll out again a version that was rolled back.")
    ] = False,
) -> None:
    """Roll a registered model version out to the InferenceService in canary steps, judged
    on live metrics from Prometheus: promoted (`champion`) or rolled back."""
    from components.base.registry import (
        CHALLENGER,
        ArtifactLocationError,
        RegistryUnavailable,
        alias_version,
        client,
    )
    from components.base.registry import storage_uri as registered_uri
    from components.base.services import ServiceUnavailable
    from components.rollout import (
        RolloutConfigError,
        RolloutFailed,
        RolloutRefused,
        plan,
        run,
    )
    from components.rollout.analysis import Thresholds
    from components.rollout.isvc import NotAnInferenceService
    from components.rollout.kube import KubeError

    settings = get_settings()
    try:
        config = RolloutConfig(
            name=name or settings.inference_service,
            namespace=namespace or settings.namespace,
            steps=_steps(steps),
            interval_s=interval,
            threshold=threshold,
            deadline_s=deadline,
            query_step_s=query_step,
            rate_window_s=rate_window,
            limits=Thresholds(
                min_requests=min_requests,
                max_error_rate_increase=max_error_rate_increase,
                max_latency_increase=max_latency_increase,
                max_psi=max_psi,
            ),
        )
    except RolloutConfigError as exc:
        raise fail(str(exc)) from None
    body = yaml.safe_load(template.read_text()) if template else None
    try:
        if not abort and (version is None or storage_uri is None):
            mlflow_client = client(settings.tracking_uri)
            if version is None:
                challenger = alias_version(mlflow_client, CHALLENGER)
                if challenger is None:
                    raise fail("no `challenger` registered: give a version")
                version = str(challenger.version)
            storage_uri = storage_uri or registered_uri(
                mlflow_client, version, settings.mlflow_artifacts_uri
            )
        if dry_run:
            console.print_json(
                json.dumps(plan(version or "", storage_uri or "", config, body, retry=retry))
            )
            return
        result = run(
            version or "",
            storage_uri or "",
            config,
            prometheus or settings.prometheus_url,
            settings.tracking_uri,
            out or settings.home / "rollouts" / f"{config.namespace}-{config.name}",
            template=body,
            metrics_port=metrics_port,
            abort=abort,
            retry=retry,
        )
    except (
        RolloutRefused,
        RolloutFailed,
        RegistryUnavailable,
        ServiceUnavailable,
        ArtifactLocationError,
        KubeError,
        NotAnInferenceService,
    ) as exc:
        raise fail(str(exc)) from None
    colour = {"rolled-back": "red", "promoted": "green", "deployed": "green"}.get(result.result)
    console.print(
        f"{config.namespace}/{config.name} v{result.version}: "
        f"[bold {colour or 'white'}]{result.result}[/] after {result.seconds:.0f} s: "
        f"{result.reason}",
        soft_wrap=True,
    )
    if result.result == "rolled-back":
        raise typer.Exit(1)
