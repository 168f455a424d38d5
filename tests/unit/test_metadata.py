"""The artifact's metadata: read back as written, and refused by name when incomplete."""

import json

import pytest

from components.base.contract.metadata import ModelMetadata

MINIMAL = {
    "features": ["carrier", "hour"],
    "categorical": ["carrier"],
    "numeric": ["hour"],
    "vocabularies": {"carrier": ["AA"]},
    "threshold": 0.3,
    "label": "delayed",
    "time_split": {"timezone": "UTC", "train_end": "2013-01-20", "valid_end": "2013-01-25"},
}


def test_metadata_round_trips_with_its_extra_keys_flat(tmp_path):
    written = ModelMetadata.from_dict({**MINIMAL, "data_version": "abc", "torch_version": "x"})
    written.write(tmp_path)
    on_disk = json.loads((tmp_path / "metadata.json").read_text())
    assert on_disk["data_version"] == "abc" and "extra" not in on_disk
    read = ModelMetadata.read(tmp_path)
    assert read == written and read.extra == {"data_version": "abc", "torch_version": "x"}
    assert read.required_features == {"carrier"}  # older artifacts: the categoricals


def test_metadata_missing_a_key_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"missing key\(s\) \['time_split'\]"):
        ModelMetadata.from_dict({k: v for k, v in MINIMAL.items() if k != "time_split"})


def test_an_extra_key_may_not_shadow_a_field():
    with pytest.raises(ValueError, match="model_version"):
        ModelMetadata(**MINIMAL, extra={"model_version": "7"})


def test_a_model_directory_without_metadata_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        ModelMetadata.read(tmp_path)
