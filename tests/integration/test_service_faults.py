"""A shared service down, unreachable or refusing the credential: the step fails with an
error naming the service and where it is (password masked) and the variable that holds
the credential (never its value), after retries, and leaves nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.base.services import ServiceUnavailable
from components.base.storage import Location
from components.featurize import run as featurize
from components.flights.feature_repo.store import FeastStores
from components.ingest import run as ingest
from serving.process import free_port
from tests.services import S3_KEYS, postgres_server, redis_server, s3_server

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_keys(monkeypatch):
    for key, value in S3_KEYS.items():
        monkeypatch.setenv(key, value)


def _validated(slice_training_frame: Path) -> Path:
    return slice_training_frame.parent / "validated"


def test_postgres_down_names_the_registry_with_its_password_masked(tmp_path):
    url = f"postgresql+psycopg://sluice:pw-5e4d3c@127.0.0.1:{free_port()}/feast"
    with pytest.raises(ServiceUnavailable) as error:
        FeastStores(registry=url).open(tmp_path / "repo")
    said = str(error.value)
    assert said.startswith("Feast SQL registry at postgresql+psycopg://sluice:***@127.0.0.1")
    assert "unreachable after 4 attempts" in said and "SLUICE_FEAST_REGISTRY" in said
    assert "pw-5e4d3c" not in said


def test_a_wrong_postgres_password_names_the_variable_not_the_value(tmp_path):
    with postgres_server(("feast",)) as postgres:
        wrong = postgres.url("feast").replace(postgres.password, "not-the-password")
        with pytest.raises(ServiceUnavailable) as error:
            FeastStores(registry=wrong).open(tmp_path / "repo")
    said = str(error.value)
    assert "password authentication failed" in said and "SLUICE_FEAST_REGISTRY" in said
    assert "not-the-password" not in said and postgres.password not in said


def test_redis_down_fails_featurize_naming_the_online_store(slice_training_frame, tmp_path):
    connection = f"127.0.0.1:{free_port()},password=rd-9f8e7d"
    stores = FeastStores(online_store="redis", redis_connection=connection)
    with pytest.raises(ServiceUnavailable) as error:
        featurize(
            _validated(slice_training_frame), tmp_path / "repo", tmp_path / "f.parquet", stores
        )
    said = str(error.value)
    assert said.startswith("Redis online store at 127.0.0.1:") and "password=***" in said
    assert "SLUICE_REDIS_CONNECTION" in said and "rd-9f8e7d" not in said
    assert not (tmp_path / "f.parquet").exists()  # no training frame from a failed step


def test_a_wrong_redis_password_names_the_variable_not_the_value(slice_training_frame, tmp_path):
    with redis_server(password="right-6a5b4c") as connection:
        wrong = connection.replace("right-6a5b4c", "wrong-1a2b3c")
        stores = FeastStores(online_store="redis", redis_connection=wrong)
        with pytest.raises(ServiceUnavailable) as error:
            featurize(
                _validated(slice_training_frame), tmp_path / "repo", tmp_path / "f.parquet", stores
            )
    said = str(error.value)
    assert "SLUICE_REDIS_CONNECTION" in said and "wrong-1a2b3c" not in said


def test_s3_down_fails_ingest_naming_the_object_store(week_source, tmp_path, s3_keys):
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServiceUnavailable) as error:
        ingest(str(week_source), Location("s3://sluice/snapshots", endpoint), tmp_path / "out")
    said = str(error.value)
    assert said.startswith(f"object store at {endpoint}: s3://sluice/snapshots")
    assert "AWS_ACCESS_KEY_ID" in said and S3_KEYS["AWS_SECRET_ACCESS_KEY"] not in said


def test_a_snapshot_is_reused_from_the_bucket_only_once_complete(week_source, tmp_path, s3_keys):
    with s3_server() as endpoint:
        store = Location("s3://sluice/snapshots", endpoint)
        first = ingest(str(week_source), store, tmp_path / "first")
        again = ingest(str(week_source), store, tmp_path / "again")
        assert (first.reused, again.reused) == (False, True)
        assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(
            p.name for p in (tmp_path / "first").iterdir()
        )
        # A snapshot whose upload died before its manifest is not one: it is written again.
        import boto3

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.delete_object(Bucket="sluice", Key=f"snapshots/{first.version}/manifest.json")
        rewritten = ingest(str(week_source), store, tmp_path / "rewritten")
        assert rewritten.reused is False
        assert store.child(first.version).exists("manifest.json")


def test_no_feature_view_is_registered_without_its_data(slice_training_frame, tmp_path, s3_keys):
    """The views' Parquet goes to S3 before `feast apply`: with S3 down, the SQL registry
    on a live PostgreSQL is left without a view."""
    with postgres_server(("feast",)) as postgres:
        stores = FeastStores(
            registry=postgres.url("feast"),
            data=Location("s3://sluice/features", f"http://127.0.0.1:{free_port()}"),
        )
        with pytest.raises(ServiceUnavailable, match="object store"):
            featurize(
                _validated(slice_training_frame), tmp_path / "repo", tmp_path / "f.parquet", stores
            )
        registry = FeastStores(registry=postgres.url("feast")).open(tmp_path / "reader")
        assert registry.list_feature_views() == []
