"""The reference profile: statistics of known-good data that distribution checks compare to.

It is saved with the use case (`components/flights/reference_profile.json`) and rebuilt with
`python -m components.validate.profile SNAPSHOT_DIR` when the reference data changes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from components.flights.schema import PROFILE_CATEGORIES, REFERENCE_PROFILE, TABLES
from components.validate.coerce import coerce_table

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def build_reference_profile(tables: dict[str, pd.DataFrame]) -> dict:
    profile: dict = {}
    for table, frame in tables.items():
        numeric = [c for c, k in TABLES[table].items() if k in ("int", "float") and c in frame]
        profile[table] = {
            "rows": len(frame),
            "null_fraction": {c: round(float(frame[c].isna().mean()), 6) for c in frame.columns},
            "numeric": {
                c: {
                    "mean": float(frame[c].mean()),
                    "std": float(frame[c].std()),
                    "quantiles": [float(frame[c].quantile(q)) for q in QUANTILES],
                }
                for c in numeric
            },
            "categories": {
                c: sorted(str(v) for v in frame[c].dropna().unique())
                for c in PROFILE_CATEGORIES.get(table, ())
            },
        }
    return profile


def load_profile(path: Path = REFERENCE_PROFILE) -> dict:
    return json.loads(Path(path).read_text())


def main(snapshot_dir: str) -> None:
    tables = {
        table: coerce_table(pd.read_parquet(Path(snapshot_dir) / f"{table}.parquet"), schema)[0]
        for table, schema in TABLES.items()
        if table in PROFILE_CATEGORIES
    }
    REFERENCE_PROFILE.write_text(json.dumps(build_reference_profile(tables), indent=1) + "\n")
    print(f"wrote {REFERENCE_PROFILE}")


if __name__ == "__main__":
    main(sys.argv[1])
