"""`resolve_model` names a model reference that names no model, whatever kind it is."""

import pytest

from components.base.contract.names import MODEL_NAME
from components.base.locate import ModelNotFound, resolve_model


@pytest.fixture
def registry(tmp_path) -> str:
    """A registry (SQLite) that holds the model's name and no version of it."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).create_registered_model(MODEL_NAME)
    return uri


@pytest.mark.parametrize(
    ("reference", "said"),
    [
        (f"models:/{MODEL_NAME}@nope", "alias nope not found"),
        (f"models:/{MODEL_NAME}/3", "not found"),
        (f"models:/{MODEL_NAME}/three", "must be an integer"),
        ("models:/another-model@champion", "not found"),
    ],
    ids=["alias", "version", "not a version", "model"],
)
def test_a_reference_the_registry_does_not_hold_is_named(registry, tmp_path, reference, said):
    with pytest.raises(ModelNotFound, match=said) as error:
        resolve_model(reference, registry, tmp_path / "cache")
    assert str(error.value).startswith(reference)
    assert not (tmp_path / "cache").exists()


def test_a_directory_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ModelNotFound, match="model directory .*nowhere.* does not exist"):
        resolve_model(str(tmp_path / "nowhere"), "sqlite:///unused.db", tmp_path / "cache")
