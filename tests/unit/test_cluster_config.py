"""What every task of the compiled pipeline gets on a cluster, read back from the YAML:
its settings from the ConfigMap, its credentials from Secrets (names and keys only), and
the image by an immutable reference."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from components.base.settings import CONFIG_KEYS, IMAGE_REPOSITORY, SECRET_KEYS, Settings
from pipelines.compile import COMPILED_DIR

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
STEPS = {"ingest", "validate", "featurize", "train", "evaluate", "register", "rollout"}


def _documents(path: Path) -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(path.read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_every_task_reads_the_config_map_and_the_secrets():
    spec, executors = _documents(COMPILED_DIR / "training.yaml")
    assert set(spec["deploymentSpec"]["executors"]) == {f"exec-{s}" for s in STEPS}
    assert set(executors) == {f"exec-{s}" for s in STEPS}
    defaults = Settings()
    for name, executor in executors.items():
        (config,) = executor["configMapAsEnv"]
        assert config["configMapName"] == defaults.config_map, name
        assert config["optional"] is False  # a task without its settings must not start
        assert [k["envVar"] for k in config["keyToEnv"]] == list(CONFIG_KEYS)
        assert [k["configMapKey"] for k in config["keyToEnv"]] == list(CONFIG_KEYS)
        secrets = {s["secretName"]: s for s in executor["secretAsEnv"]}
        assert set(secrets) == {getattr(defaults, s) for s in SECRET_KEYS}, name
        for setting, keys in SECRET_KEYS.items():
            entry = secrets[getattr(defaults, setting)]
            assert entry["optional"] is True  # a tracking server without auth has none
            assert [k["envVar"] for k in entry["keyToEnv"]] == list(keys)
            assert [k["secretKey"] for k in entry["keyToEnv"]] == list(keys)


def test_the_config_keys_are_settings_the_tasks_read(monkeypatch):
    """Each key, set in the environment as the ConfigMap sets it, changes a setting."""
    values = {
        "SLUICE_ONLINE_STORE": "redis",
        "SLUICE_OFFLINE_STORE": "file",
        "MLFLOW_TRACKING_URI": "http://mlflow.sluice:5000",
        "SLUICE_SNAPSHOTS_URI": "s3://sluice/snapshots",
        "SLUICE_FEATURE_DATA_URI": "s3://sluice/features",
        "SLUICE_RAY_STORAGE_URI": "s3://sluice/ray",
        "SLUICE_S3_ENDPOINT_URL": "http://minio.sluice:9000",
        "SLUICE_S3_REGION": "eu-west-1",
        "SLUICE_MLFLOW_ARTIFACTS_URI": "s3://sluice/mlartifacts",
        "SLUICE_PROMETHEUS_URL": "http://prometheus.monitoring:9090",
        "SLUICE_INFERENCE_SERVICE": "flights",
        "SLUICE_NAMESPACE": "ml",
    }
    assert set(values) == set(CONFIG_KEYS)
    monkeypatch.delenv("SLUICE_MLFLOW_TRACKING_URI", raising=False)  # it would win
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert (settings.online_store, settings.offline_store, settings.tracking_uri) == (
        "redis",
        "file",
        "http://mlflow.sluice:5000",
    )
    assert (settings.snapshots, settings.feature_data_uri, settings.ray_storage) == (
        "s3://sluice/snapshots",
        "s3://sluice/features",
        "s3://sluice/ray",
    )
    snapshots = settings.location(settings.snapshots)
    assert (snapshots.s3_endpoint, snapshots.s3_region) == ("http://minio.sluice:9000", "eu-west-1")
    assert settings.mlflow_artifacts_uri == "s3://sluice/mlartifacts"
    assert (settings.prometheus_url, settings.inference_service, settings.namespace) == (
        "http://prometheus.monitoring:9090",
        "flights",
        "ml",
    )


def test_an_empty_config_key_means_the_local_default(monkeypatch, tmp_path):
    """The ConfigMap must carry every key; an empty one is the setting's default."""
    monkeypatch.setenv("SLUICE_HOME", str(tmp_path))
    monkeypatch.delenv("SLUICE_MLFLOW_TRACKING_URI", raising=False)
    for key in CONFIG_KEYS:
        monkeypatch.setenv(key, "")
    settings = Settings()
    assert settings.snapshots == str(tmp_path / "snapshots")
    assert settings.ray_storage == str(tmp_path / "ray_results")
    assert (settings.online_store, settings.offline_store) == ("sqlite", "duckdb")
    assert (settings.s3_endpoint_url, settings.s3_region) == (None, "us-east-1")
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert (settings.prometheus_url, settings.namespace) == ("http://localhost:9090", "sluice")


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("SLUICE_ONLINE_STORE", "memcached", "Input should be 'sqlite' or 'redis'"),
        ("SLUICE_SNAPSHOTS_URI", "gs://b/s", "a store is a local path or an s3:// URI"),
        ("SLUICE_S3_ENDPOINT_URL", "minio:9000", "an endpoint starts with http:// or https://"),
        (
            "KF_PIPELINES_ENDPOINT",
            "ml-pipeline:8888",
            "an endpoint starts with http:// or https://",
        ),
        (
            "MLFLOW_TRACKING_URI",
            "http://u:pw-8c7b@mlflow:5000",
            "MLFLOW_TRACKING_PASSWORD (the sluice-mlflow",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_the_rule(
    tmp_path, variable, value, said
):
    env = {**os.environ, variable: value, "SLUICE_HOME": str(tmp_path)}
    env.pop("SLUICE_MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "show"], capture_output=True, text=True, env=env
    )
    printed = " ".join(done.stdout.split())
    assert done.returncode == 2 and "Traceback" not in done.stdout + done.stderr
    assert f"settings: {variable}=" in printed and said in printed
    assert "pw-8c7b" not in done.stdout + done.stderr


def test_every_task_runs_the_image_of_the_package_version():
    spec, _ = _documents(COMPILED_DIR / "training.yaml")
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {f"{IMAGE_REPOSITORY}:{VERSION}"}


def _compile(tmp_path: Path, *args: str, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "compile", "--output-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_an_image_digest_given_at_compile_time_pins_every_task(tmp_path):
    digest = "sha256:" + "ab" * 32
    done = _compile(tmp_path, "--image-digest", digest)
    assert done.returncode == 0, done.stderr
    spec, _ = _documents(tmp_path / "training.yaml")
    images = {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}
    assert images == {f"{IMAGE_REPOSITORY}@{digest}"}


@pytest.mark.parametrize("digest", ["latest", "sha256:abc", "md5:" + "ab" * 32])
def test_what_is_not_a_digest_is_refused(tmp_path, digest):
    done = _compile(tmp_path, "--image-digest", digest)
    assert done.returncode == 2 and "image digest" in done.stdout + done.stderr


def test_no_credential_reaches_the_yaml(tmp_path):
    secrets = {
        "MLFLOW_TRACKING_PASSWORD": "pw-8f1d2c",
        "AWS_SECRET_ACCESS_KEY": "aws-3e9a77",
        "SLUICE_REDIS_CONNECTION": "redis.sluice:6379,password=rd-5b0c44",
    }
    done = _compile(tmp_path, env=secrets)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "training.yaml").read_text() + done.stdout + done.stderr
    for value in ("pw-8f1d2c", "aws-3e9a77", "rd-5b0c44"):
        assert value not in text


@pytest.mark.parametrize(
    "image",
    [f"{IMAGE_REPOSITORY}:latest", f"{IMAGE_REPOSITORY}:main", f"{IMAGE_REPOSITORY}@sha256:ab"],
)
def test_a_moving_image_reference_is_refused(monkeypatch, image):
    monkeypatch.setenv("SLUICE_IMAGE", image)
    with pytest.raises(ValueError, match="package version"):
        Settings()


def test_a_mirror_of_the_same_version_or_digest_is_accepted(monkeypatch):
    for image in (f"registry.local/sluice:{VERSION}", f"registry.local/sluice@sha256:{'0' * 64}"):
        monkeypatch.setenv("SLUICE_IMAGE", image)
        assert Settings().image == image


def test_the_installed_package_is_the_pyproject_version():
    from importlib.metadata import version

    assert version("sluice") == VERSION


def test_a_proxied_artifact_is_found_in_the_object_store():
    from components.base.registry import in_artifact_store

    proxied = "mlflow-artifacts:/1/models/m-0a1b/artifacts"
    assert in_artifact_store(proxied, "s3://sluice/mlartifacts/") == (
        "s3://sluice/mlartifacts/1/models/m-0a1b/artifacts"
    )
    assert in_artifact_store("s3://other/x", None) == "s3://other/x"
    with pytest.raises(ValueError, match="SLUICE_MLFLOW_ARTIFACTS_URI"):
        in_artifact_store(proxied, None)
