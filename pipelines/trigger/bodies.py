"""What the trigger accepts, as pydantic models: a body that does not fit is a 400 naming
the field, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DRIFT_ALERT = "SluiceDriftDetected"
"""The chart's PrometheusRule alert (helm/sluice/templates/prometheusrule.yaml) that retrains."""


class DriftCall(BaseModel):
    """The drift service's call: which model version's inputs drifted, in which features."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model_version: str = Field(min_length=1)
    features: list[str] = Field(min_length=1)
    reason: str = Field(min_length=1)


class Alert(BaseModel):
    """One alert of a webhook: only `status` and `labels` decide anything here."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    fingerprint: str = ""


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook body, version 4 (its `notify/webhook` package): a group of
    alerts under one `groupKey`, which stays the same for the whole episode."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert]
    truncatedAlerts: int = 0

    def drift_firing(self) -> list[Alert]:
        """The alerts to act on: `SluiceDriftDetected`, still firing (a group that fires
        may carry alerts already resolved)."""
        return [
            a
            for a in self.alerts
            if a.status == "firing" and a.labels.get("alertname") == DRIFT_ALERT
        ]
