"""Passwords out of what sluice prints."""

import pytest

from components.base.masking import masked, scrubbed


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("http://alice:s3cret@mlflow:5000/api", "http://alice:***@mlflow:5000/api"),
        ("postgresql://u:p%40ss@db/mlflow", "postgresql://u:***@db/mlflow"),
        ("redis://:hunter2@redis:6379/0", "redis://:***@redis:6379/0"),
        ("http://mlflow:5000", "http://mlflow:5000"),
        ("sqlite:////var/lib/sluice/mlflow.db", "sqlite:////var/lib/sluice/mlflow.db"),
        ("redis:6379,password=hunter2,ssl=true", "redis:6379,password=***,ssl=true"),
        ("redis:6379,db=0", "redis:6379,db=0"),
    ],
)
def test_masked(uri, shown):
    assert masked(uri) == shown


def test_scrubbed_takes_the_password_out_of_any_text():
    uri = "http://alice:s3cret@mlflow:5000"
    said = "HTTPConnectionPool(host='mlflow'): url http://alice:s3cret@mlflow:5000/api failed"
    assert "s3cret" not in scrubbed(said, uri) and "alice:***@" in scrubbed(said, uri)
    assert scrubbed(said, "http://mlflow:5000") == said


def test_scrubbed_takes_out_redis_passwords_and_decoded_url_passwords():
    said = "AuthenticationError at redis:6379 with hunter2; dsn u:p@ss@db"
    assert "hunter2" not in scrubbed(said, "redis:6379,password=hunter2")
    assert "p@ss" not in scrubbed(said, "postgresql://u:p%40ss@db/feast")
