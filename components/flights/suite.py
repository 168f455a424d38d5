"""The flights expectation suites (Great Expectations 1.x).

Blocking expectations stop the pipeline; the others warn. Distribution bounds come from the
reference profile saved beside this file, widened by `tolerance` reference standard
deviations so that a month's seasonal shift warns rather than blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import great_expectations as gx
import pandas as pd

from components.flights.schema import FLIGHT_KEY, RANGES, SOFT_RANGES, TABLES

ORIGINS = ["EWR", "JFK", "LGA"]

# Columns every row must have.
REQUIRED = {
    "flights": [
        "year",
        "month",
        "day",
        "sched_dep_time",
        "carrier",
        "flight",
        "origin",
        "dest",
        "distance",
        "hour",
        "minute",
        "time_hour",
    ],
    "weather": ["origin", "time_hour"],
    "planes": ["tailnum"],
}
DISTRIBUTION = {
    "flights": ["dep_delay", "distance", "sched_dep_time"],
    "weather": ["temp", "wind_speed", "visib"],
    "planes": ["seats", "year"],
}
UNIQUE = {"flights": FLIGHT_KEY, "weather": ["origin", "time_hour"], "planes": ["tailnum"]}
FRESHNESS = {"flights": "time_hour", "weather": "time_hour"}
SUITE_TABLES = tuple(UNIQUE)


@dataclass(frozen=True)
class SuiteParameters:
    reference_time: pd.Timestamp
    max_staleness: timedelta
    tolerance: float = 0.5
    """Distribution bounds: reference statistic ± tolerance × reference std."""


def _meta(blocking: bool) -> dict:
    return {"blocking": blocking}


def build_suite(
    table: str,
    columns: set[str],
    profile: dict,
    params: SuiteParameters,
    allowed: dict[str, list[str]],
) -> list:
    """Expectations for one table, over the columns it actually has (a missing column is
    reported once, by the column-set expectation)."""
    E = gx.expectations
    suite: list = [
        E.ExpectTableColumnsToMatchSet(
            column_set=sorted(TABLES[table]), exact_match=False, meta=_meta(True)
        )
    ]
    ref = profile[table]
    for column in TABLES[table]:
        if column not in columns:
            continue
        if column in REQUIRED.get(table, []):
            suite.append(E.ExpectColumnValuesToNotBeNull(column=column, meta=_meta(True)))
        else:
            allowed_nulls = min(1.0, max(0.01, 2 * ref["null_fraction"].get(column, 0.0)))
            suite.append(
                E.ExpectColumnValuesToNotBeNull(
                    column=column, mostly=round(1 - allowed_nulls, 6), meta=_meta(True)
                )
            )
        if column in RANGES.get(table, {}):
            low, high = RANGES[table][column]
            suite.append(
                E.ExpectColumnValuesToBeBetween(
                    column=column, min_value=low, max_value=high, meta=_meta(True)
                )
            )
        if column in SOFT_RANGES.get(table, {}):
            low, high, mostly = SOFT_RANGES[table][column]
            suite.append(
                E.ExpectColumnValuesToBeBetween(
                    column=column, min_value=low, max_value=high, mostly=mostly, meta=_meta(False)
                )
            )
        if column in allowed:
            suite.append(
                E.ExpectColumnValuesToBeInSet(
                    column=column, value_set=allowed[column], meta=_meta(True)
                )
            )
        if column in DISTRIBUTION.get(table, []):
            stats = ref["numeric"][column]
            margin = params.tolerance * stats["std"]
            suite.append(
                E.ExpectColumnMeanToBeBetween(
                    column=column,
                    min_value=stats["mean"] - margin,
                    max_value=stats["mean"] + margin,
                    meta=_meta(False),
                )
            )
            # The median stands in for the quantile bounds: GE 1.24's quantile expectation
            # fails to serialise its own result (numpy bool in its details).
            suite.append(
                E.ExpectColumnMedianToBeBetween(
                    column=column,
                    min_value=stats["quantiles"][2] - margin,
                    max_value=stats["quantiles"][2] + margin,
                    meta=_meta(False),
                )
            )
            suite.append(
                E.ExpectColumnStdevToBeBetween(
                    column=column,
                    min_value=stats["std"] * (1 - params.tolerance),
                    max_value=stats["std"] * (1 + params.tolerance),
                    meta=_meta(False),
                )
            )
        if column == FRESHNESS.get(table):
            suite.append(
                E.ExpectColumnMaxToBeBetween(
                    column=column,
                    min_value=params.reference_time - params.max_staleness,
                    max_value=params.reference_time,
                    meta=_meta(True),
                )
            )
    key = UNIQUE[table]
    if set(key) <= columns:
        expectation = (
            E.ExpectCompoundColumnsToBeUnique(column_list=key, meta=_meta(True))
            if len(key) > 1
            else E.ExpectColumnValuesToBeUnique(column=key[0], meta=_meta(True))
        )
        suite.append(expectation)
    return suite


def allowed_values(tables: dict[str, pd.DataFrame], profile: dict) -> dict[str, dict[str, list]]:
    """Categorical domains: airports and carriers from the reference tables, plus the
    destinations the reference profile has seen (a few, such as SJU, are not in airports)."""
    airports = set(tables["airports"]["faa"].dropna()) | set(
        profile["flights"]["categories"]["dest"]
    )
    carriers = set(tables["airlines"]["carrier"].dropna())
    return {
        "flights": {"origin": ORIGINS, "dest": sorted(airports), "carrier": sorted(carriers)},
        "weather": {"origin": ORIGINS},
        "planes": {},
    }
