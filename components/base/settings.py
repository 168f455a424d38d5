"""One settings object for every path, URI and endpoint.

Values come from the environment (`SLUICE_*`, plus the names the upstream tools already
use, `MLFLOW_TRACKING_URI` and `KF_PIPELINES_ENDPOINT`); local defaults live under
`./.sluice/`. Paths are made absolute at load time so that KFP's subprocesses, which may
run from another working directory, resolve them the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from components.base.masking import masked
from components.base.storage import Location

IMAGE_REPOSITORY = "ghcr.io/sluice-ml/sluice"
PACKAGE_VERSION = version("sluice")  # read once: each call reads the installed metadata
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def image_for(digest: str | None = None) -> str:
    """The project image by an immutable reference: its digest when given, else the tag
    of the package version."""
    if digest is None:
        return f"{IMAGE_REPOSITORY}:{PACKAGE_VERSION}"
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"image digest {digest!r}: expected sha256: and 64 hex digits")
    return f"{IMAGE_REPOSITORY}@{digest}"


CONFIG_KEYS = (
    "SLUICE_ONLINE_STORE",
    "SLUICE_OFFLINE_STORE",
    "MLFLOW_TRACKING_URI",
    "SLUICE_SNAPSHOTS_URI",
    "SLUICE_FEATURE_DATA_URI",
    "SLUICE_RAY_STORAGE_URI",
    "SLUICE_S3_ENDPOINT_URL",
    "SLUICE_S3_REGION",
    "SLUICE_MLFLOW_ARTIFACTS_URI",
    "SLUICE_PROMETHEUS_URL",
    "SLUICE_INFERENCE_SERVICE",
    "SLUICE_NAMESPACE",
)
"""The settings a pipeline task reads from the `config_map` on a cluster, by env name. An
empty value means the setting's default (`SLUICE_S3_ENDPOINT_URL` empty: AWS itself)."""
SECRET_KEYS = {
    "mlflow_secret": ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"),
    "s3_secret": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "redis_secret": ("SLUICE_REDIS_CONNECTION",),
    "feast_secret": ("SLUICE_FEAST_REGISTRY",),
}
"""Credentials a task reads from Secrets, by the setting naming each Secret: MLflow's and
boto's own variable names, the Redis connection and the Feast SQL registry's URL (each may
carry a password)."""
SHARED_STATE = {
    "mlflow_tracking_uri": "MLFLOW_TRACKING_URI",
    "feast_registry": "SLUICE_FEAST_REGISTRY",
    "online_store": "SLUICE_ONLINE_STORE",
    "feature_data_uri": "SLUICE_FEATURE_DATA_URI",
    "ray_storage_uri": "SLUICE_RAY_STORAGE_URI",
    "snapshots_uri": "SLUICE_SNAPSHOTS_URI",
}
"""Each store that tasks share, by setting and the variable that sets it: on a cluster
every one must be a service, since a pod's own disk dies with it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="ignore")

    home: Path = Path(".sluice")
    """Root of everything sluice writes locally."""

    image: str = image_for()
    """The project image every KFP component runs in on a cluster: tagged with the package
    version, or pinned by digest (`sluice compile --image-digest`); never a moving tag."""

    config_map: str = "sluice-config"
    """On a cluster: the ConfigMap every pipeline task reads `CONFIG_KEYS` from."""
    mlflow_secret: str = "sluice-mlflow"
    s3_secret: str = "sluice-s3"
    redis_secret: str = "sluice-redis"
    feast_secret: str = "sluice-feast"
    """On a cluster: the Secrets the tasks read `SECRET_KEYS` from, where they exist."""

    online_store: Literal["sqlite", "redis"] = "sqlite"
    """Feast online store: `sqlite` locally, `redis` on a cluster."""
    redis_connection: str = "localhost:6379"
    offline_store: Literal["duckdb", "file"] = "duckdb"
    """Feast offline store: `duckdb` (measured faster, see `make bench`) or `file`."""
    feast_registry: str | None = None
    """Feast registry: a file in the feature repo by default; a SQLAlchemy URL
    (`postgresql+psycopg://…`) selects Feast's SQL registry, shared by featurize and the
    transformer."""
    feature_data_uri: str | None = None
    """Where featurize writes the Parquet the feature views read: the feature repo's
    `data/` by default; `s3://bucket/prefix` on a cluster (read through DuckDB's httpfs)."""
    snapshots_uri: str | None = None
    """Raw snapshots, one per content hash: `home/snapshots` by default, or `s3://…`."""
    ray_storage_uri: str | None = None
    """Ray Train run storage (checkpoints, so a retried train task resumes):
    `home/ray_results` by default, or `s3://…`."""
    s3_endpoint_url: str | None = None
    """An S3-compatible server (MinIO, moto, Ceph) for every `s3://` URI; unset: AWS."""
    s3_region: str = "us-east-1"
    """The buckets' region (pyarrow and DuckDB need it; an S3-compatible server ignores it)."""

    mlflow_artifacts_uri: str | None = None
    """A tracking server that proxies artifacts (`--serve-artifacts`) names them
    `mlflow-artifacts:/…`; this is its `--artifacts-destination` (`s3://bucket/prefix`),
    where KServe's storage initializer finds a version's model."""
    prometheus_url: str = "http://localhost:9090"
    """The Prometheus that scrapes the model servers, which the rollout's analysis asks."""
    inference_service: str = "sluice-flights"
    """The InferenceService serving the registered model (the chart's `inferenceService.name`)."""
    namespace: str = "sluice"
    """The namespace it runs in (the chart's release namespace)."""

    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLUICE_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    )
    kfp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLUICE_KFP_ENDPOINT", "KF_PIPELINES_ENDPOINT"),
    )
    """The KFP API server `sluice submit` and `sluice schedule` talk to, `http(s)://…`;
    the dashboard's links are under the same address."""
    kfp_namespace: str = "kubeflow"
    """`kfp.Client`'s namespace: `kubeflow` on a single-user deployment; in multi-user mode
    the profile namespace that the experiment and its runs belong to."""
    kfp_token_path: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("SLUICE_KFP_TOKEN_PATH", "KF_PIPELINES_SA_TOKEN_PATH"),
    )
    """A projected service-account token (audience `pipelines.kubeflow.org`), read again
    for every request since the kubelet rotates it."""
    kfp_token: SecretStr | None = None
    """A bearer token obtained elsewhere (kfp's `existing_token`); it wins over the token
    file. Secret: no repr, log line or error shows it."""
    trigger_state: Path | None = None
    """The retrain trigger's SQLite file (its audit log, from which the cooldown and rate
    limit are read, so both survive a restart): `home/trigger.db` by default."""

    @field_validator(
        "online_store",
        "offline_store",
        "mlflow_tracking_uri",
        "feast_registry",
        "feature_data_uri",
        "snapshots_uri",
        "ray_storage_uri",
        "s3_endpoint_url",
        "s3_region",
        "mlflow_artifacts_uri",
        "prometheus_url",
        "inference_service",
        "namespace",
        "kfp_endpoint",
        "kfp_namespace",
        "kfp_token_path",
        "kfp_token",
        "trigger_state",
        mode="before",
    )
    @classmethod
    def _empty_is_default(cls, value, info: ValidationInfo):
        """A ConfigMap key must be present; an empty one asks for the default."""
        return value if value else cls.model_fields[info.field_name].default

    @field_validator("feature_data_uri", "snapshots_uri", "ray_storage_uri")
    @classmethod
    def _store(cls, value: str | None) -> str | None:
        if value is not None:
            Location(value)  # a local path or s3://, else a ValueError naming the rule
        return value

    @field_validator("s3_endpoint_url", "kfp_endpoint", "prometheus_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r}: an endpoint starts with http:// or https://")
        return value

    @field_validator("mlflow_tracking_uri")
    @classmethod
    def _no_inline_password(cls, value: str | None) -> str | None:
        """MLflow quotes the URI in its errors; the password goes in its own variable."""
        if value is not None and masked(value) != value:
            raise ValueError(
                "the URI carries a password: set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD (the sluice-mlflow Secret) instead"
            )
        return value

    @field_validator("image")
    @classmethod
    def _immutable(cls, value: str) -> str:
        """A moving tag (`latest`, a branch) would let a retried task run other code."""
        name, at, digest = value.partition("@")
        if at and _DIGEST.fullmatch(digest):
            return value
        if not at and name.rsplit("/", 1)[-1].endswith(f":{PACKAGE_VERSION}"):
            return value
        raise ValueError(
            f"SLUICE_IMAGE {value!r}: tag it with the package version "
            f"({PACKAGE_VERSION}) or pin it by digest (@sha256:...)"
        )

    @field_validator("home")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def snapshots(self) -> str:
        return self.snapshots_uri or str(self.home / "snapshots")

    @property
    def feature_repo_dir(self) -> Path:
        """The Feast repo's working copy: its config, and the local stores' files."""
        return self.home / "feature_repo"

    @property
    def ray_storage(self) -> str:
        return self.ray_storage_uri or str(self.home / "ray_results")

    def location(self, uri: str) -> Location:
        """A store's directory, local or on this deployment's S3."""
        return Location(uri, self.s3_endpoint_url, self.s3_region)

    @property
    def trigger_state_path(self) -> Path:
        return (self.trigger_state or self.home / "trigger.db").expanduser().resolve()

    @property
    def served_models_dir(self) -> Path:
        """Where a local server downloads the registered versions it serves, one folder each
        (`contract.names.version_directory`); the local drift service reads them there."""
        return self.home / "served_models"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str | None:
        """Where new MLflow experiments keep artifacts: under `home` for the local SQLite
        store; a tracking server decides for itself (None)."""
        return None if self.mlflow_tracking_uri else (self.home / "mlartifacts").as_uri()


_UPSTREAM = {
    "SLUICE_MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI",
    "SLUICE_KFP_ENDPOINT": "KF_PIPELINES_ENDPOINT",
    "SLUICE_KFP_TOKEN_PATH": "KF_PIPELINES_SA_TOKEN_PATH",
}


def _variable(field: str) -> str:
    """The variable a settings error is about: the upstream name where there is one (an
    aliased setting is reported by its first alias, the `SLUICE_` one)."""
    name = field if field.isupper() else f"SLUICE_{field.upper()}"
    return _UPSTREAM.get(name, name)


class SettingsError(ValueError):
    """A setting the environment gives a value it cannot take."""


@lru_cache
def get_settings() -> Settings:
    """The settings, once per process; bad values raise `SettingsError` naming each
    variable, its (masked) value and the rule."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(
            "; ".join(
                f"{_variable(str(e['loc'][0]))}={masked(str(e['input']))!r}: {e['msg']}"
                for e in exc.errors()
            )
        ) from None
