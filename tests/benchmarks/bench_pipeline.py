"""Per-step wall time of the local pipeline on the full data, and the Feast offline stores
(DuckDB against the Dask file store) building the same training frame, side by side."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from components.base.settings import Settings, get_settings
from pipelines.local import RunSummary, run_pipeline
from tests.benchmarks.common import console, report

STORE_MEMORY_LIMIT = 16 * 1024**3
STORE_TIMEOUT_S = 600


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (STORE_MEMORY_LIMIT, STORE_MEMORY_LIMIT))


def offline_store_child(validated_dir: str, work_dir: str, store: str) -> None:
    """Runs in a child process so that a store that blows up cannot take the bench down."""
    from components.featurize import run
    from components.flights.feature_repo.store import FeastStores

    result = run(
        Path(validated_dir),
        Path(work_dir) / store,
        Path(work_dir) / f"{store}.parquet",
        stores=FeastStores(offline_store=store),
        materialize=False,
    )
    print(json.dumps({"rows": result.rows, "seconds": result.historical_seconds}))


def month_slice(validated_dir: Path, work: Path, month: int = 1) -> Path:
    """The validated tables cut to one month, where the file store fits in memory."""
    import pandas as pd

    out = work / f"month-{month}"
    out.mkdir(parents=True, exist_ok=True)
    for table in ("flights", "weather", "planes"):
        frame = pd.read_parquet(validated_dir / f"{table}.parquet")
        if "month" in frame and table != "planes":
            frame = frame[frame["month"] == month]
        frame.to_parquet(out / f"{table}.parquet", index=False)
    return out


def compare_offline_stores(validated_dir: Path, scope: str) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for store in ("duckdb", "file"):
            console.print(f"offline store [bold]{store}[/]: training frame, {scope}")
            code = (
                "from tests.benchmarks.bench_pipeline import offline_store_child as c; "
                f"c({str(validated_dir)!r}, {work!r}, {store!r})"
            )
            started = time.perf_counter()
            outcome, result = "ok", {"rows": 0, "seconds": float("nan")}
            try:
                done = subprocess.run(
                    [sys.executable, "-c", code],
                    capture_output=True,
                    text=True,
                    timeout=STORE_TIMEOUT_S,
                    preexec_fn=_limit_memory,
                )
                if done.returncode == 0:
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                else:
                    last = (done.stderr.strip().splitlines() or ["?"])[-1]
                    outcome = f"failed: {last.split(': ', 1)[-1][:60]}"
            except subprocess.TimeoutExpired:
                outcome = f"timeout after {STORE_TIMEOUT_S}s"
            rows.append(
                {
                    "scope": scope,
                    "store": store,
                    "outcome": outcome,
                    "rows": result["rows"],
                    "join_seconds": float(result["seconds"]),
                    "wall_seconds": time.perf_counter() - started,
                }
            )
    return rows


def main(home: Path) -> dict:
    """Runs the full local pipeline under `home`; returns its summary for later benches."""
    console.print("local pipeline on the full data (fresh snapshot, empty registry)")
    summary = run_pipeline(Settings(home=home), {"source": ""})
    if summary.status != "succeeded":
        raise SystemExit(f"pipeline {summary.status}: {summary.message}")
    steps = [
        {
            "step": name,
            "status": s["status"],
            "wall_seconds": float(s["seconds"] or 0),
            "compute_seconds": float(s["compute_seconds"] or 0),
        }
        for name, s in summary.steps.items()
    ]
    steps.append(
        {
            "step": "total (sluice run)",
            "status": summary.status,
            "wall_seconds": summary.wall_seconds,
            "compute_seconds": float("nan"),
        }
    )
    report(
        "pipeline_steps",
        "local pipeline, full data",
        steps,
        {
            "data_version": summary.data_version,
            "feature_rows": summary.features.get("rows"),
            "holdout_auc": summary.holdout_auc,
            "baselines": summary.baselines,
            "goal_total_seconds": 360,
        },
    )
    validated = Path(summary.validation["validated_path"])
    stores = compare_offline_stores(validated, "full year")
    with tempfile.TemporaryDirectory() as work:
        stores += compare_offline_stores(month_slice(validated, Path(work)), "January")
    full = [r for r in stores if r["scope"] == "full year" and r["outcome"] == "ok"]
    chosen = min(full, key=lambda r: r["join_seconds"])
    report(
        "offline_stores",
        "Feast offline stores, same training frame",
        stores,
        {"chosen": chosen["store"], "configured_default": get_settings().offline_store},
    )
    console.print(f"faster offline store: [bold]{chosen['store']}[/]")
    isolated_beside(summary)
    return summary.to_dict()


def isolated_beside(local: RunSummary) -> None:
    """The same pipeline with every task as a pod over real services on loopback
    (PostgreSQL, Redis, moto's S3, an MLflow tracking server), beside the local run:
    what the cluster's way of sharing state costs. Both start from empty stores."""
    from tests.services import shared_services

    console.print("isolated pipeline on the full data (pods, shared services)")
    try:
        with tempfile.TemporaryDirectory() as home, shared_services() as services:
            isolated = run_pipeline(Settings(home=Path(home)), {"source": ""}, pods=services.env)
    except BaseException as exc:  # pytest's skip: a server binary is missing
        if type(exc).__name__ != "Skipped":
            raise
        console.print(f"[yellow]isolated run skipped:[/] {exc}")
        return
    if isolated.status != "succeeded":
        raise SystemExit(f"isolated pipeline {isolated.status}: {isolated.message}")
    rows = [
        {
            "step": name,
            "local_seconds": float(local.steps[name]["seconds"] or 0),
            "isolated_seconds": float(isolated.steps[name]["seconds"] or 0),
        }
        for name in local.steps
    ]
    rows.append(
        {
            "step": "total",
            "local_seconds": local.wall_seconds,
            "isolated_seconds": isolated.wall_seconds,
        }
    )
    for row in rows:
        row["ratio"] = row["isolated_seconds"] / max(row["local_seconds"], 1e-9)
    report(
        "isolated_vs_local",
        "isolated (pods + services) beside local, full data",
        rows,
        {"goal_ratio": 1.3, "holdout_auc": [local.holdout_auc, isolated.holdout_auc]},
    )
