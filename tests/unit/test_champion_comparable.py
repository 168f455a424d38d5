"""A champion the challenger's frame cannot judge: one trained on features since renamed
(the legacy fixture reads `origin_flights`), or at another horizon. The gate then has nothing
to compare and says why, rather than failing the run on a missing column."""

import json
import shutil
from pathlib import Path

from components.base.contract.artifact import ModelArtifact
from components.evaluate import incomparable_champion
from components.evaluate.gate import GateConfig, evaluate_gate

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_model"


def _with_horizon(tmp_path: Path, minutes: float) -> ModelArtifact:
    copy = tmp_path / f"model-{minutes:g}"
    shutil.copytree(LEGACY, copy)
    metadata = json.loads((copy / "metadata.json").read_text())
    (copy / "metadata.json").write_text(json.dumps({**metadata, "horizon_minutes": minutes}))
    return ModelArtifact(copy)


def test_a_champion_reading_features_the_frame_lacks_is_not_comparable():
    champion = ModelArtifact(LEGACY)
    columns = [c for c in champion.metadata.features if c != "origin_flights"]
    reason = incomparable_champion(champion, champion, columns)
    assert reason is not None and "origin_flights" in reason
    assert incomparable_champion(champion, champion, champion.metadata.features) is None


def test_a_champion_at_another_horizon_is_not_comparable(tmp_path):
    champion, model = _with_horizon(tmp_path, 0), _with_horizon(tmp_path, 120)
    reason = incomparable_champion(champion, model, champion.metadata.features)
    assert reason is not None and "120" in reason


def test_the_gate_passes_an_incomparable_champion_and_says_why():
    checks = evaluate_gate(
        GateConfig(), 0.8, 0.7, 0.01, champion_auc=None, champion_incomparable="renamed"
    )
    versus = next(c for c in checks if c.name == "vs_champion")
    assert versus.passed and "not comparable: renamed" in versus.detail
