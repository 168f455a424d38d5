"""A champion the challenger's frame cannot score: one trained on features since renamed
(the legacy fixture reads `origin_flights`). The gate then has nothing to compare and says
why, rather than failing the run on a missing column. A champion at another horizon is
another matter: the transformer in front of it reads features at its horizon, so the gate
fails a challenger for another horizon and says how to promote it."""

from components.base.contract.artifact import ModelArtifact
from components.evaluate import incomparable_champion
from components.evaluate.gate import GateConfig, evaluate_gate
from tests.model_fixtures import LEGACY


def test_a_champion_reading_features_the_frame_lacks_is_not_comparable():
    champion = ModelArtifact(LEGACY)
    columns = [c for c in champion.metadata.features if c != "origin_flights"]
    reason = incomparable_champion(champion, columns)
    assert reason is not None and "origin_flights" in reason
    assert incomparable_champion(champion, champion.metadata.features) is None


def test_the_gate_passes_an_incomparable_champion_and_says_why():
    checks = evaluate_gate(
        GateConfig(), 0.8, 0.7, 0.01, champion_auc=None, champion_incomparable="renamed"
    )
    versus = next(c for c in checks if c.name == "vs_champion")
    assert versus.passed and "not comparable: renamed" in versus.detail


def test_the_gate_fails_a_model_for_another_horizon_than_the_champions():
    checks = evaluate_gate(
        GateConfig(), 0.8, 0.7, 0.01, champion_auc=None, champion_horizon=0.0, horizon=120.0
    )
    versus = next(c for c in checks if c.name == "vs_champion")
    assert not versus.passed and "120" in versus.detail and "--horizon" in versus.detail
