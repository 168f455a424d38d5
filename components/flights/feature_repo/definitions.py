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
from components.flights.features import ENTITY_TIMESTAMP, PLANE_COLUMNS, WEATHER_COLUMNS

SOURCE_FILES = {
    "weather_hourly": "weather_hourly.parquet",
    "plane_attributes": "plane_attributes.parquet",
    "origin_congestion": "origin_congestion.parquet",
    "carrier_delay_7d": "carrier_delay_7d.parquet",
}


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
    congestion = FeatureView(
        name="origin_congestion",
        entities=[origin],
        ttl=timedelta(hours=1),
        schema=[
            Field(name="origin_mean_dep_delay", dtype=Float64),
            Field(name="origin_delayed_share", dtype=Float64),
            Field(name="origin_flights", dtype=Int64),
        ],
        source=source("origin_congestion"),
        description="Departures scheduled at the origin in the hour two hours earlier.",
    )
    carrier_rate = FeatureView(
        name="carrier_delay_7d",
        entities=[carrier],
        ttl=timedelta(days=1),
        schema=[
            Field(name="carrier_delay_rate_7d", dtype=Float64),
            Field(name="carrier_flights_7d", dtype=Int64),
        ],
        source=source("carrier_delay_7d"),
        description="Carrier delayed share over 7 days, ending the day before yesterday.",
    )
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=[weather, planes, congestion, carrier_rate],
        description="Online and offline features of the flight delay model.",
    )
    return {
        "origin": origin,
        "tailnum": tailnum,
        "carrier": carrier,
        "weather_hourly": weather,
        "plane_attributes": planes,
        "origin_congestion": congestion,
        "carrier_delay_7d": carrier_rate,
        FEATURE_SERVICE: service,
    }


# Module-level objects for `feast apply` run in a working copy of this folder.
globals().update(build(str(Path(__file__).resolve().parent / "data")))
