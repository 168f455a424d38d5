"""Rich tables for a pipeline run: its steps while it runs, its results after."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

_STATUS_STYLE = {
    "pending": "dim",
    "running": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "dim",
}


def steps_table(steps) -> Table:
    table = Table(title="pipeline steps", show_lines=False)
    table.add_column("step")
    table.add_column("status")
    table.add_column("wall s", justify="right")
    table.add_column("compute s", justify="right")
    for step in steps.values():
        style = _STATUS_STYLE.get(step.status, "")
        table.add_row(
            step.name,
            f"[{style}]{step.status}[/]",
            "" if step.seconds is None else f"{step.seconds:.1f}",
            "" if step.compute_seconds is None else f"{step.compute_seconds:.1f}",
        )
    return table


def result_table(summary) -> Table:
    table = Table(title=f"run {summary.run_id}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("status", summary.status)
    table.add_row("data version", str(summary.data_version))
    if summary.ingest:
        rows = summary.ingest.get("rows", {})
        reused = " (snapshot reused)" if summary.ingest.get("reused") else ""
        table.add_row("raw rows", f"{rows.get('flights', 0):,} flights{reused}")
    if summary.validation:
        v = summary.validation
        quarantined = sum(v.get("quarantined", {}).values())
        table.add_row(
            "validation",
            f"{'passed' if v.get('passed') else 'FAILED'}: {v.get('checks')} checks, "
            f"{len(v.get('failures', []))} blocking failures, {len(v.get('warnings', []))} "
            f"warnings, {quarantined} rows quarantined",
        )
    if summary.features:
        f = summary.features
        table.add_row(
            "feature rows", f"{f.get('rows', 0):,} ({len(f.get('features', []))} features)"
        )
        table.add_row("feature service", str(f.get("feature_service")))
        table.add_row("offline store", str(f.get("offline_store")))
        table.add_row("online store", str(f.get("online_store")))
    if summary.training:
        t = summary.training
        table.add_row(
            "training",
            f"{t.get('epochs_run')} epochs on {t.get('workers')} workers ({t.get('backend')}), "
            f"{t.get('samples_per_second', 0):,.0f} samples/s, val AUC {t.get('val_auc', 0):.4f}",
        )
        if t.get("tuning"):
            tuned, chosen = t["tuning"], t.get("hyperparameters", {})
            table.add_row(
                "tuning",
                f"best of {tuned['trials']} trials ({tuned['stopped_early']} stopped early by "
                f"ASHA): trial {tuned['best_trial']}, {tuned['metric']} "
                f"{tuned['best_score']:.4f}; " + ", ".join(f"{k} {v}" for k, v in chosen.items()),
            )
    if summary.holdout_auc is not None:
        baselines = ", ".join(f"{k} {v:.4f}" for k, v in summary.baselines.items())
        champion = summary.evaluation.get("champion")
        versus = ""
        if champion and "roc_auc" in champion:
            versus = f"; champion v{champion['version']} {champion['roc_auc']:.4f}"
        table.add_row("holdout AUC", f"{summary.holdout_auc:.4f} (baselines: {baselines}{versus})")
        for check in summary.gate:
            mark = "[green]pass[/]" if check["passed"] else "[bold red]FAIL[/]"
            table.add_row(f"gate {check['name']}", f"{mark} {check['detail']}")
    if summary.model_version:
        r = summary.registration
        reused = " (existing version reused)" if r.get("reused") else ""
        table.add_row(
            "registered", f"{r.get('model_name')} v{r.get('version')} @{r.get('alias')}{reused}"
        )
    table.add_row("wall time", f"{summary.wall_seconds:.1f} s")
    table.add_row("summary", str(Path(summary.run_dir) / "summary.json"))
    return table
