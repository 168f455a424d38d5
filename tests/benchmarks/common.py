"""Benchmark plumbing: each benchmark returns rows; they print as a table and land as JSON."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from components.base.settings import get_settings

console = Console()
if not console.is_terminal:  # a log file or a pipe has no width to fit: do not cut names short
    console.width = 140


def bench_dir() -> Path:
    path = get_settings().home / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def report(
    name: str, title: str, rows: list[dict], extra: dict | None = None, digits: int = 2
) -> Path:
    """Print the rows as a table (floats to `digits` decimals) and write them as JSON."""
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column, justify="right" if isinstance(rows[0][column], float) else "left")
    for row in rows:
        table.add_row(
            *(f"{v:,.{digits}f}" if isinstance(v, float) else str(v) for v in row.values())
        )
    console.print(table)
    path = bench_dir() / f"{name}.json"
    clash = {"name", "measured_at", "machine", "rows"} & set(extra or {})
    if clash:
        raise ValueError(f"benchmark extras may not replace {sorted(clash)}")
    payload = {
        "name": name,
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "rows": rows,
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    console.print(f"[dim]wrote {path}[/]")
    return path
