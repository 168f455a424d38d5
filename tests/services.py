"""Real servers on loopback for the tests: PostgreSQL, Redis, an S3-compatible server (moto
in server mode) and an MLflow tracking server over both. Each skips, with the reason,
where its binary is missing; CI installs them all and sets SLUICE_REQUIRE_SERVICES=1
(.ci/run), which turns a skip into a failure."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from serving.process import free_port, stop, wait_ready

BIN = Path(sys.executable).parent
S3_KEYS = {"AWS_ACCESS_KEY_ID": "sluice-test", "AWS_SECRET_ACCESS_KEY": "sluice-test-secret"}
BUCKET = "sluice"


def missing(reason: str) -> None:
    """Skip for want of a server binary, or fail where CI promised them all."""
    if os.environ.get("SLUICE_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and SLUICE_REQUIRE_SERVICES=1 says it must be there")
    pytest.skip(reason)


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")


@contextmanager
def _running(
    command: list[str], port: int, what: str, ready: str | None = None, timeout: float = 60, **popen
):
    """`command` listening on `port`, and with `ready`, that URL answering 200 (within
    `timeout` s), before it yields the process; stopped after."""
    log = tempfile.NamedTemporaryFile("w+", prefix=f"{what.replace(' ', '-')}-", suffix=".log")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        try:
            wait_for_port(port, process, what)
        except RuntimeError as exc:
            log.seek(0)
            raise RuntimeError(f"{exc}\n{log.read()[-3000:]}") from None
        if ready is not None:
            wait_ready(ready, process, Path(log.name), timeout, what)
        yield process
    finally:
        stop(process, 15)
        log.close()


@contextmanager
def redis_server(
    password: str | None = None, port: int | None = None, data_dir: Path | None = None
):
    """Yields Feast's connection string: `127.0.0.1:PORT[,password=…]`. Given `port` and
    `data_dir`, a test can stop it and start it again where it was, with what it saved
    there (`SAVE`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing("redis-server not installed (CI installs the Debian package)")
    port = port or free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", *(["--requirepass", password] if password else [])]
    command += ["--dir", str(data_dir)] if data_dir else []
    with _running(command, port, "redis-server"):
        yield f"127.0.0.1:{port}" + (f",password={password}" if password else "")


@contextmanager
def prometheus_server(targets: dict[str, dict[str, str]], scrape_interval_s: float = 1.0):
    """Debian's Prometheus scraping `/metrics` of each `host:port` target with its labels,
    every `scrape_interval_s`; yields its URL once ready."""
    import yaml

    binary = shutil.which("prometheus")
    if binary is None:
        missing("prometheus not installed (CI installs the Debian package prometheus)")
    root = Path(tempfile.mkdtemp(prefix="sluice-prom-"))
    interval = f"{int(scrape_interval_s * 1000)}ms"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {
                "job_name": "model-servers",
                "static_configs": [
                    {"targets": [target], "labels": labels} for target, labels in targets.items()
                ],
            }
        ],
    }
    (root / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    command = [binary, f"--config.file={root / 'prometheus.yml'}"]
    command += [f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"]
    url = f"http://127.0.0.1:{port}"
    try:
        with _running(command, port, "prometheus", ready=f"{url}/-/ready", timeout=30):
            yield url
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@dataclass
class Postgres:
    port: int
    user: str
    password: str

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"


@contextmanager
def postgres_server(databases: tuple[str, ...] = ("mlflow", "feast")):
    """A throwaway cluster with password (scram) auth and these databases. PostgreSQL
    refuses to run as root, so under root it runs as the `postgres` user."""
    initdb, postgres = _postgres_bin("initdb"), _postgres_bin("postgres")
    if initdb is None or postgres is None:
        missing("PostgreSQL not installed (CI installs the Debian package postgresql)")
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="sluice-pg-"))
    server = Postgres(free_port(), "sluice", "pg-" + os.urandom(6).hex())
    (root / "pw").write_text(server.password)
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    subprocess.run(
        [*as_user, initdb, "-D", str(root / "data"), "-U", server.user, "--auth=scram-sha-256"]
        + [f"--pwfile={root / 'pw'}", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    command = [*as_user, postgres, "-D", str(root / "data"), "-p", str(server.port)]
    command += ["-k", str(root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]
    try:
        with _running(command, server.port, "postgres"):
            import psycopg

            with psycopg.connect(server.url("postgres", "postgresql"), autocommit=True) as db:
                for name in databases:
                    db.execute(f'CREATE DATABASE "{name}"')
            yield server
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def s3_server():
    """moto's S3 server with the bucket `sluice`; yields its endpoint URL. The keys in
    `S3_KEYS` are what clients send (moto accepts any)."""
    binary = BIN / "moto_server"
    if not binary.exists():
        missing("moto[server] not installed (the dev extra has it)")
    port = free_port()
    with _running([str(binary), "-H", "127.0.0.1", "-p", str(port)], port, "moto_server"):
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_boto(S3_KEYS))
        s3.create_bucket(Bucket=BUCKET)
        yield endpoint


def _boto(keys: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": keys["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": keys["AWS_SECRET_ACCESS_KEY"],
    }


@contextmanager
def mlflow_server(backend_store_uri: str, s3_endpoint: str):
    """`mlflow server` with a SQL backend store and S3 as its artifact store, serving the
    artifacts itself (clients upload through it); yields its URL."""
    port = free_port()
    command = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", backend_store_uri, "--workers", "1"]
    command += ["--artifacts-destination", f"s3://{BUCKET}/mlartifacts"]
    env = {**os.environ, **S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint}
    url = f"http://127.0.0.1:{port}"
    with _running(command, port, "mlflow server", ready=f"{url}/health", timeout=120, env=env):
        yield url


@dataclass
class SharedServices:
    """Every store a cluster's tasks share, running for real on loopback, and the
    environment a pod gets for them from `sluice-config` and the Secrets."""

    env: dict[str, str]
    postgres: Postgres
    s3_endpoint: str
    tracking_uri: str
    redis: str


@contextmanager
def shared_services():
    with (
        postgres_server() as postgres,
        redis_server() as redis,
        s3_server() as s3_endpoint,
        mlflow_server(postgres.url("mlflow"), s3_endpoint) as tracking_uri,
    ):
        env = {
            "MLFLOW_TRACKING_URI": tracking_uri,
            "SLUICE_FEAST_REGISTRY": postgres.url("feast"),
            "SLUICE_ONLINE_STORE": "redis",
            "SLUICE_REDIS_CONNECTION": redis,
            "SLUICE_OFFLINE_STORE": "duckdb",
            "SLUICE_SNAPSHOTS_URI": f"s3://{BUCKET}/snapshots",
            "SLUICE_FEATURE_DATA_URI": f"s3://{BUCKET}/features",
            "SLUICE_RAY_STORAGE_URI": f"s3://{BUCKET}/ray",
            "SLUICE_S3_ENDPOINT_URL": s3_endpoint,
            **S3_KEYS,
        }
        yield SharedServices(env, postgres, s3_endpoint, tracking_uri, redis)
