"""The feature store: bring the online store up to date (the chart's CronJob runs this)."""

from __future__ import annotations

from datetime import UTC, datetime

from components.base.settings import get_settings
from pipelines.cli.app import app, console, fail


@app.command()
def materialize() -> None:
    """Feast materialize-incremental: load each feature view's values since its last
    materialization into the online store, through the registry in the settings."""
    from components.base.services import ServiceUnavailable
    from components.flights.feature_repo.store import FeastStores

    settings = get_settings()
    stores = FeastStores.from_settings(settings)
    try:
        store = stores.open(settings.feature_repo_dir, offline=True)
        views = [view.name for view in store.list_feature_views()]
        if not views:
            raise fail("no feature views registered yet: run the pipeline first")
        stores.materialize_incremental(store, datetime.now(UTC))
    except ServiceUnavailable as exc:
        raise fail(str(exc)) from None
    console.print(f"materialized {len(views)} feature views: {', '.join(sorted(views))}")
