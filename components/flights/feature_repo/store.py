"""Which stores the feature repo uses, from sluice's settings: the registry (a file, or
Feast's SQL registry on PostgreSQL), the online store (SQLite or Redis), the offline store
(DuckDB or file) and where the views' Parquet lives (a local directory or S3).

Featurize and the transformer open the same store through `FeastStores.open`, so a
transformer started in an empty home finds the registry featurize wrote. The config is
built in memory; the `feature_store.yaml` written for people (`feast ui`) names the
credential-bearing values by their environment variables, which Feast expands at load."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import yaml

from components.base.services import with_retries
from components.base.settings import Settings
from components.base.storage import Location

PROJECT = "sluice_flights"
LOCAL_REGISTRY = "data/registry.db"
"""The file registry, relative to the repo directory."""


@dataclass(frozen=True)
class FeastStores:
    online_store: str = "sqlite"
    redis_connection: str = "localhost:6379"
    offline_store: str = "duckdb"
    registry: str | None = None
    """None: the file registry in the repo; else a SQLAlchemy URL (Feast's SQL registry)."""
    data: Location | None = None
    """Where the views' Parquet lives; None: the repo's `data/`."""

    @classmethod
    def from_settings(cls, settings: Settings) -> FeastStores:
        return cls(
            online_store=settings.online_store,
            redis_connection=settings.redis_connection,
            offline_store=settings.offline_store,
            registry=settings.feast_registry,
            data=settings.location(settings.feature_data_uri)
            if settings.feature_data_uri
            else None,
        )

    def for_serving(self, timeout_s: float) -> FeastStores:
        """These stores as a server reads them: a Redis read fails once it takes longer
        than `timeout_s`, and fails at once, without redis-py's retries (three, with up to
        seconds of backoff), so the caller gets its answer and the server's own health
        check decides when to read again. Later parameters win in Feast's connection
        string, so these override any the setting carries."""
        if self.online_store != "redis":
            return self
        limits = f"socket_timeout={timeout_s:g},socket_connect_timeout={timeout_s:g},retry=null"
        return replace(self, redis_connection=f"{self.redis_connection},{limits}")

    def data_location(self, repo_dir: Path) -> Location:
        return self.data or Location(str(Path(repo_dir).resolve() / "data"))

    def config(self, reveal: bool = True) -> dict:
        """`feature_store.yaml`'s content. Unless `reveal`, the Redis connection and the
        registry URL (either may carry a password) are `${VARIABLE}` references."""
        if self.offline_store not in ("duckdb", "file"):
            raise ValueError(
                f"offline_store must be 'duckdb' or 'file', got {self.offline_store!r}"
            )
        if self.online_store == "redis":
            connection = self.redis_connection if reveal else "${SLUICE_REDIS_CONNECTION}"
            online = {"type": "redis", "connection_string": connection}
        else:
            online = {"type": "sqlite", "path": "data/online_store.db"}
        registry: str | dict = LOCAL_REGISTRY
        if self.registry:
            registry = {
                "registry_type": "sql",
                "path": self.registry if reveal else "${SLUICE_FEAST_REGISTRY}",
                "cache_ttl_seconds": 60,
                "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
            }
        return {
            "project": PROJECT,
            "provider": "local",
            "registry": registry,
            "online_store": online,
            "offline_store": {"type": self.offline_store},
            "entity_key_serialization_version": 3,
        }

    def yaml(self) -> str:
        return yaml.safe_dump(self.config(reveal=False), sort_keys=False)

    def open(self, repo_dir: Path, offline: bool = False):
        """A FeatureStore over these stores; `repo_dir` holds the local stores' files.
        `offline`: it will read the views' data (featurize), so DuckDB gets S3 access;
        the transformer reads only the online store, and its image has no DuckDB."""
        from feast import FeatureStore
        from feast.repo_config import RepoConfig

        repo_dir = Path(repo_dir)
        (repo_dir / "data").mkdir(parents=True, exist_ok=True)
        data = self.data
        if offline and data is not None and data.remote and self.offline_store == "duckdb":
            import ibis

            from components.base.duckdb_s3 import enable_s3

            enable_s3(ibis.get_backend().con, data.s3_endpoint, data.s3_region)
        config = RepoConfig(repo_path=repo_dir, **self.config())
        if not self.registry:
            return FeatureStore(repo_path=str(repo_dir), config=config)
        from sqlalchemy.exc import OperationalError

        def connected():  # Feast connects on first use of `registry`: fail here instead
            store = FeatureStore(repo_path=str(repo_dir), config=config)
            store.registry  # noqa: B018
            return store

        return with_retries(
            "Feast SQL registry",
            self.registry,
            connected,
            retry_on=(OperationalError,),
            hint="its URL comes from SLUICE_FEAST_REGISTRY",
        )

    def materialize(self, store, start: datetime, end: datetime) -> None:
        """Load the views' latest values into the online store (idempotent: upserts)."""
        self._online(lambda: store.materialize(start_date=start, end_date=end))

    def materialize_incremental(self, store, end: datetime) -> None:
        """The same, from where each view's last materialization ended."""
        self._online(lambda: store.materialize_incremental(end_date=end))

    def _online(self, write) -> None:
        if self.online_store != "redis":
            write()
            return
        from redis.exceptions import ConnectionError, TimeoutError

        with_retries(
            "Redis online store",
            self.redis_connection,
            write,
            retry_on=(ConnectionError, TimeoutError),
            hint="the connection comes from SLUICE_REDIS_CONNECTION",
        )
