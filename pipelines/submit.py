"""Submit and schedule the compiled pipeline on Kubeflow Pipelines through `kfp.Client`.

Each submission uploads the package as a new version of the pipeline (the pipeline itself
once), so every run and recurring run names the exact spec it ran. Failures come out of
`kfp_errors` as one `KfpError` line naming the endpoint, never the token.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kfp
import kfp_server_api
import urllib3
import yaml
from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

from components.base.masking import masked
from components.base.settings import PACKAGE_VERSION, Settings

CRON_EXAMPLE = "0 0 9 * * MON-FRI"
"""KFP's cron (robfig/cron): second, minute, hour, day of month, month, day of week."""


class KfpError(Exception):
    """Why a submission cannot go ahead, in one line: about KFP, it names the endpoint and
    never the token."""


class _Client(kfp.Client):
    """kfp's client, whose health probe tries once. Its constructor probes unless given a
    namespace other than `kubeflow` (or one saved in kfp's context file), and kfp's five
    tries, five seconds apart, would hold a refused token for half a minute."""

    def get_kfp_healthz(self, sleep_duration: int = 5) -> kfp_server_api.V2beta1GetHealthzResponse:
        return self._healthz_api.healthz_service_get_healthz()


def connect(settings: Settings) -> kfp.Client:
    """A client for the endpoint, namespace and credential in the settings: the token
    (`SLUICE_KFP_TOKEN`) if set, else the token file, which kfp reads again for each
    request since a projected token rotates."""
    if not settings.kfp_endpoint:
        raise KfpError("no KFP endpoint: set KF_PIPELINES_ENDPOINT to http(s)://host:port")
    token = settings.kfp_token.get_secret_value() if settings.kfp_token else None
    credentials = None
    if token is None and settings.kfp_token_path is not None:
        try:
            settings.kfp_token_path.read_text()
        except OSError as exc:
            raise KfpError(
                f"the KFP token file {settings.kfp_token_path} (KF_PIPELINES_SA_TOKEN_PATH) "
                f"cannot be read: {exc.strerror}"
            ) from None
        credentials = ServiceAccountTokenVolumeCredentials(str(settings.kfp_token_path))
    with warnings.catch_warnings():  # "only works with Kubeflow Pipeline v2.0.0-beta.2 and later"
        warnings.simplefilter("ignore", FutureWarning)
        return _Client(
            host=settings.kfp_endpoint,
            namespace=settings.kfp_namespace,
            existing_token=token,
            credentials=credentials,
        )


def pipeline_name(package: Path) -> str:
    """The name the compiled spec gives its pipeline (`pipelineInfo.name`)."""
    try:
        spec = next(yaml.safe_load_all(package.read_text()))
        return spec["pipelineInfo"]["name"]
    except (yaml.YAMLError, StopIteration, TypeError, KeyError) as exc:
        reason = getattr(exc, "problem", None) or "no pipelineInfo.name in its first document"
        raise KfpError(f"{package} is not a compiled KFP pipeline: {reason}") from None


def version_name(now: datetime | None = None) -> str:
    """The package version and the UTC upload time to the millisecond: unique within the
    pipeline, as KFP requires, and it says what was uploaded when."""
    now = now or datetime.now(UTC)
    return f"{PACKAGE_VERSION}-{now:%Y%m%dT%H%M%S}.{now.microsecond // 1000:03d}Z"


def upload(
    client: kfp.Client,
    package: Path,
    pipeline_name: str,
    version_name: str,
    pipeline_id: str | None = None,
) -> tuple[str, str]:
    """Adds the package as version `version_name` of the pipeline `pipeline_id`, or of the
    one named `pipeline_name`, uploading that first if KFP has none; returns both ids.

    A new pipeline's first version is named after the pipeline, so the named version is
    added to it too: every run then refers to a version named for its upload."""
    if pipeline_id is not None:
        client.get_pipeline(pipeline_id)  # 404 for an unknown id; the upload says only 400
    else:
        pipeline_id = client.get_pipeline_id(pipeline_name) or (
            _quietly(client.upload_pipeline, str(package), pipeline_name).pipeline_id
        )
    version = _quietly(
        client.upload_pipeline_version, str(package), version_name, pipeline_id=pipeline_id
    )
    return pipeline_id, version.pipeline_version_id


def submit_run(
    client: kfp.Client,
    experiment: str,
    run_name: str,
    pipeline_id: str,
    version_id: str,
    params: dict[str, Any],
) -> str:
    """Runs the version once in the experiment (created if missing); returns the run id."""
    run = _quietly(
        client.run_pipeline,
        _experiment_id(client, experiment),
        run_name,
        params=params,
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    return run.run_id


def schedule(
    client: kfp.Client,
    experiment: str,
    name: str,
    pipeline_id: str,
    version_id: str,
    params: dict[str, Any],
    cron: str,
    max_concurrency: int = 1,
    catchup: bool = False,
) -> str:
    """Runs the version on the cron schedule in the experiment (created if missing);
    returns the recurring run's id. Without catchup, a schedule that fell behind (paused,
    or the controller down) starts only the latest missed run, not one per interval."""
    cron = check_cron(cron)
    recurring = client.create_recurring_run(
        _experiment_id(client, experiment),
        name,
        cron_expression=cron,
        max_concurrency=max_concurrency,
        no_catchup=not catchup,
        params=params,
        pipeline_id=pipeline_id,
        version_id=version_id,
    )
    return recurring.recurring_run_id


def check_cron(cron: str) -> str:
    """KFP's 6-field cron, seconds first. KFP itself also takes 5 fields, read as seconds
    to month with any weekday: a crontab line `0 9 * * 1` would run at minute 9 of every
    hour in January, so 5 fields are refused here."""
    fields = cron.split()
    if len(fields) != 6:
        raise ValueError(
            f"{cron!r} has {len(fields)} fields; KFP's cron has 6, seconds first: second "
            f"minute hour day-of-month month day-of-week (e.g. {CRON_EXAMPLE!r}, 09:00:00 "
            "Monday to Friday)"
        )
    return " ".join(fields)


def run_url(endpoint: str, run_id: str) -> str:
    return f"{masked(endpoint.rstrip('/'))}/#/runs/details/{run_id}"


def recurring_run_url(endpoint: str, recurring_run_id: str) -> str:
    return f"{masked(endpoint.rstrip('/'))}/#/recurringrun/details/{recurring_run_id}"


@contextlib.contextmanager
def kfp_errors(settings: Settings) -> Iterator[None]:
    """Turns what KFP calls raise into a `KfpError` line: the host cannot be reached, the
    credential is refused (401) or not allowed (403), or KFP refuses the request."""
    where = f"KFP at {masked(settings.kfp_endpoint or '')}"
    try:
        yield
    except kfp_server_api.ApiException as exc:
        raise KfpError(f"{where} {_refusal(exc, settings)}") from None
    except urllib3.exceptions.HTTPError as exc:
        raise KfpError(f"{where} cannot be reached: {_root_cause(exc)}") from None
    except ValueError as exc:  # kfp's own: two pipelines or experiments share the name
        raise KfpError(f"{where}: {_scrubbed(str(exc), settings)}") from None


def _experiment_id(client: kfp.Client, name: str) -> str:
    return _quietly(client.create_experiment, name).experiment_id  # finds it if it exists


def _quietly(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """kfp prints a dashboard link after most calls; sluice prints its own summary."""
    with contextlib.redirect_stdout(io.StringIO()):
        return call(*args, **kwargs)


def _refusal(exc: kfp_server_api.ApiException, settings: Settings) -> str:
    said = _scrubbed(_message(exc), settings)
    if exc.status == 0:  # TLS: kfp_server_api reports it without an HTTP status
        return f"cannot be reached: {said}"
    if exc.status == 401:
        return f"refused the credential (401): {_credential(settings)}"
    if exc.status == 403:
        return (
            f"does not allow this to the token's identity in namespace "
            f"{settings.kfp_namespace} (403): {said}"
        )
    return f"answered {exc.status} {exc.reason}: {said}"


def _credential(settings: Settings) -> str:
    if settings.kfp_token:
        return "check the token in SLUICE_KFP_TOKEN"
    if settings.kfp_token_path:
        return f"check the token file {settings.kfp_token_path} (KF_PIPELINES_SA_TOKEN_PATH)"
    return "no token is set: set KF_PIPELINES_SA_TOKEN_PATH or SLUICE_KFP_TOKEN"


def _message(exc: kfp_server_api.ApiException) -> str:
    """KFP's own words: `message` in a gRPC-gateway status, `error_message` from the
    upload endpoints; else the first line of whatever came back."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    try:
        said = json.loads(body)
        said = said.get("message") or said.get("error_message") or body
    except (TypeError, ValueError, AttributeError):
        said = body or exc.reason
    lines = str(said).strip().splitlines()
    return lines[0][:300] if lines else str(exc.reason)


def _root_cause(exc: BaseException) -> str:
    """The OS's reason under urllib3's wrappers (`[Errno 111] Connection refused`)."""
    while (inner := exc.__cause__ or exc.__context__) is not None:
        exc = inner
    return str(exc)


def _scrubbed(text: str, settings: Settings) -> str:
    """`text` with the credential taken out, should KFP or a proxy ever quote it."""
    secrets = [settings.kfp_token.get_secret_value()] if settings.kfp_token else []
    if settings.kfp_token_path:
        with contextlib.suppress(OSError):
            secrets.append(settings.kfp_token_path.read_text().strip())
    for secret in filter(None, secrets):
        text = text.replace(secret, "***")
    return text
