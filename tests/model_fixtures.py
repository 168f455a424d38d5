"""The model fixtures: the legacy export (`tests/fixtures/legacy_model`) and a real raw-feature
export, small and fast: a seeded, untrained net over the legacy layout, exported as training
exports."""

from __future__ import annotations

from pathlib import Path

from components.base.contract.artifact import ModelArtifact
from components.base.contract.layout import FeatureLayout
from components.base.contract.metadata import ModelMetadata

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy_model"


def exported_raw_model(directory: Path) -> ModelArtifact:
    import torch

    from components.train.export import export_onnx
    from components.train.model import FlightDelayNet

    metadata = ModelMetadata.read(LEGACY)
    layout = FeatureLayout.from_metadata(metadata)
    torch.manual_seed(0)
    means, stds = metadata.extra["normalisation"]["mean"], metadata.extra["normalisation"]["std"]
    net = FlightDelayNet(
        vocab_sizes=[len(layout.vocabularies[name]) for name in layout.categorical],
        means=means,
        stds=stds,
        edges=[[m - s, m, m + s] for m, s in zip(means, stds, strict=True)],
        embedding_dim=4,
        hidden=(16,),
        dropout=0.0,
    ).eval()
    export_onnx(net, layout, directory / metadata.model_file)
    metadata.write(directory)
    artifact = ModelArtifact(directory)
    assert not artifact.legacy
    return artifact
