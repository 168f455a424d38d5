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

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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


CONFIG_KEYS = ("SLUICE_ONLINE_STORE", "SLUICE_OFFLINE_STORE", "MLFLOW_TRACKING_URI")
"""The settings a pipeline task reads from the `config_map` on a cluster, by env name."""
SECRET_KEYS = {
    "mlflow_secret": ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"),
    "s3_secret": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "redis_secret": ("SLUICE_REDIS_CONNECTION",),
}
"""Credentials a task reads from Secrets, by the setting naming each Secret: MLflow's and
boto's own variable names, and the Redis connection (it may carry a password)."""


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
    """On a cluster: the Secrets the tasks read `SECRET_KEYS` from, where they exist."""

    online_store: str = "sqlite"
    """Feast online store: `sqlite` locally, `redis` on a cluster."""
    redis_connection: str = "localhost:6379"
    offline_store: str = "duckdb"
    """Feast offline store: `duckdb` (measured faster, see `make bench`) or `file`."""

    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLUICE_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    )
    kfp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLUICE_KFP_ENDPOINT", "KF_PIPELINES_ENDPOINT"),
    )

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
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def feature_repo_dir(self) -> Path:
        return self.home / "feature_repo"

    @property
    def ray_storage(self) -> Path:
        """Ray Train run storage: checkpoints, so a retried train task resumes."""
        return self.home / "ray_results"

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
