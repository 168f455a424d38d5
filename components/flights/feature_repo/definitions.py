"""Feast definitions for the flights use case.

`feast apply` in a working copy of this folder (sluice writes one to
`.sluice/feature_repo/`, with its data in `data/`) registers these objects; the featurize
step applies the same objects programmatically through `build()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

from components.base.contract.names import FEATURE_SERVICE
from components.flights.features import (
    AIRCRAFT_DELAY,
    AIRCRAFT_DEPARTED_AT,
    AIRCRAFT_WINDOW,
    CARRIER_RATE,
    DEST_STATE,
    ENTITY_TIMESTAMP,
    ORIGIN_STATE,
    PLANE_COLUMNS,
    ROUTE_RATE,
    WEATHER_COLUMNS,
    DailyRate,
    StateWindow,
    state_columns,
)

VIEWS = (
    "weather_hourly",
    "plane_attributes",
    "aircraft_latest",
    "origin_congestion",
    "dest_congestion",
    "carrier_delay_7d",
    "route_delay_28d",
)
SOURCE_FILES = {view: f"{view}.parquet" for view in VIEWS}
DTYPES = {"int": Int64, "float": Float64}


def refs_by_join_keys(service: FeatureService, views: Mapping) -> dict[tuple[str, ...], list[str]]:
    """The service's feature references (`view:feature`), grouped by the join keys their
    view needs: training runs one point-in-time query per group. `views` maps a view's
    name to the view (the repo's objects, or a store's registry)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for projection in service.feature_view_projections:
        keys = tuple(sorted(views[projection.name].join_keys))
        groups.setdefault(keys, []).extend(
            f"{projection.name}:{feature.name}" for feature in projection.features
        )
    return groups


def service_features(service: FeatureService, views: Mapping) -> list[str]:
    """The service's features in the model's order: by join-key group, as training reads
    them. The transformer assembles live requests in the same order."""
    return [
        ref.split(":", 1)[1] for refs in refs_by_join_keys(service, views).values() for ref in refs
    ]


def build(data: str, s3_endpoint: str | None = None) -> dict[str, object]:
    """Every Feast object of the repo, with sources under `data`: a directory, or an
    `s3://` prefix on `s3_endpoint` (None: AWS)."""
    origin = Entity(
        name="origin",
        join_keys=["origin"],
        value_type=ValueType.STRING,
        description="departure airport",
    )
    tailnum = Entity(
        name="tailnum",
        join_keys=["tailnum"],
        value_type=ValueType.STRING,
        description="aircraft tail number",
    )
    carrier = Entity(
        name="carrier",
        join_keys=["carrier"],
        value_type=ValueType.STRING,
        description="airline code",
    )
    dest = Entity(
        name="dest",
        join_keys=["dest"],
        value_type=ValueType.STRING,
        description="destination airport",
    )
    entities = {"origin": origin, "tailnum": tailnum, "carrier": carrier, "dest": dest}

    def source(view: str) -> FileSource:
        return FileSource(
            name=f"{view}_source",
            path=f"{data.rstrip('/')}/{SOURCE_FILES[view]}",
            timestamp_field=ENTITY_TIMESTAMP,
            s3_endpoint_override=s3_endpoint if data.startswith("s3://") else None,
        )

    weather = FeatureView(
        name="weather_hourly",
        entities=[origin],
        ttl=timedelta(hours=3),
        schema=[Field(name=n, dtype=Float64) for n in WEATHER_COLUMNS],
        source=source("weather_hourly"),
        description="Hourly weather at the origin, the last full hour before departure.",
    )
    planes = FeatureView(
        name="plane_attributes",
        entities=[tailnum],
        ttl=timedelta(0),
        schema=[Field(name=n, dtype=Float64) for n in PLANE_COLUMNS.values()],
        source=source("plane_attributes"),
        description="Static aircraft attributes.",
    )

    def state(name: str, window: StateWindow, description: str) -> FeatureView:
        # A row every step (`state_source`): one step is as old as the latest may be.
        return FeatureView(
            name=name,
            entities=[entities[k] for k in window.keys],
            ttl=window.step,
            schema=[Field(name=n, dtype=DTYPES[k]) for n, k in state_columns(window).items()],
            source=source(name),
            description=description,
        )

    def daily(name: str, rate: DailyRate, description: str) -> FeatureView:
        # A row a day; two days, so that the 25-hour day when clocks go back is covered.
        return FeatureView(
            name=name,
            entities=[entities[k] for k in rate.keys],
            ttl=timedelta(days=2),
            schema=[Field(name=rate.rate, dtype=Float64), Field(name=rate.count, dtype=Int64)],
            source=source(name),
            description=description,
        )

    aircraft = FeatureView(
        name="aircraft_latest",
        entities=[tailnum],
        ttl=AIRCRAFT_WINDOW,
        schema=[
            Field(name=AIRCRAFT_DELAY, dtype=Float64),
            Field(name=AIRCRAFT_DEPARTED_AT, dtype=Float64),
        ],
        source=source("aircraft_latest"),
        description="The same aircraft's latest departure from New York: delay, time.",
    )
    congestion = state(
        "origin_congestion",
        ORIGIN_STATE,
        "Departures from the origin in the last hour, outcomes known in it, and the "
        "departures scheduled in the next hour.",
    )
    dest_congestion = state(
        "dest_congestion",
        DEST_STATE,
        "Departures from New York to the destination in the last three hours.",
    )
    carrier_rate = daily(
        "carrier_delay_7d",
        CARRIER_RATE,
        "Carrier delayed share over 7 days, ending the day before yesterday.",
    )
    route_rate = daily(
        "route_delay_28d",
        ROUTE_RATE,
        "Route (origin, destination) delayed share over 28 days, ending yesterday.",
    )
    views = (weather, planes, aircraft, congestion, dest_congestion, carrier_rate, route_rate)
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=list(views),
        description="Online and offline features of the flight delay model.",
    )
    return {**entities, **{view.name: view for view in views}, FEATURE_SERVICE: service}


# Module-level objects for `feast apply` run in a working copy of this folder.
globals().update(build(str(Path(__file__).resolve().parent / "data")))
