"""The registry's side of a promotion: `champion` moves to the new version and the old
champion becomes `previous`. A rollback changes no alias."""

from __future__ import annotations

from components.base.contract.names import MODEL_NAME
from components.base.registry import CHAMPION, PREVIOUS, alias_version, client


class RegistryAliases:
    def __init__(self, tracking_uri: str):
        self.tracking_uri = tracking_uri

    def promote(self, version: str) -> dict:
        """Idempotent: promoting the champion again moves nothing."""
        mlflow_client = client(self.tracking_uri)
        champion = alias_version(mlflow_client, CHAMPION)
        moved = {}
        if champion is not None and str(champion.version) != str(version):
            mlflow_client.set_registered_model_alias(MODEL_NAME, PREVIOUS, champion.version)
            moved[PREVIOUS] = str(champion.version)
        mlflow_client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        moved[CHAMPION] = str(version)
        return moved
