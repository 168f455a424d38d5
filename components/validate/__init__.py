"""Validate: run the Great Expectations suites, quarantine failing rows, gate the run."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import pandas as pd

from components.base.contract.names import QUARANTINE_REASONS, QUARANTINE_ROW
from components.base.localtime import localized
from components.flights.schema import TABLES, TIMEZONE
from components.validate.coerce import coerce_table
from components.validate.profile import load_profile
from components.validate.report import write_html_report

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

TYPE_EXPECTATION = "expect_column_values_to_be_of_type"


@dataclass
class CheckResult:
    table: str
    expectation: str
    column: str | None
    blocking: bool
    success: bool
    unexpected_count: int | None
    observed: str | None
    message: str
    rows: list[int] = field(default_factory=list, repr=False)


@dataclass
class ValidationResult:
    passed: bool
    rows: dict[str, int]
    quarantined: dict[str, int]
    failures: list[dict]
    warnings: list[dict]
    checks: int
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _describe(
    table: str, expectation: str, column: str | None, result: dict, blocking: bool
) -> str:
    where = f"{table}.{column}" if column else table
    level = "blocking" if blocking else "warning"
    parts = [f"{where}: {expectation} failed ({level})"]
    if result.get("unexpected_count"):
        examples = result.get("partial_unexpected_list") or []
        parts.append(f"{result['unexpected_count']} unexpected rows, e.g. {examples[:3]}")
    if result.get("observed_value") is not None:
        parts.append(f"observed {result['observed_value']}")
    if result.get("details", {}).get("mismatched"):
        parts.append(f"columns {result['details']['mismatched']}")
    return "; ".join(parts)


def _run_suites(
    frames: dict[str, pd.DataFrame], suites: dict[str, list], docs_root: Path
) -> tuple[list[CheckResult], list[Path]]:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    context.update_data_docs_site(
        site_name="local_site",
        site_config={
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_root),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_or_update_pandas("snapshot")
    definitions = []
    for table, expectations in suites.items():
        asset = source.add_dataframe_asset(table)
        suite = context.suites.add_or_update(gx.ExpectationSuite(name=f"{table}_suite"))
        for expectation in expectations:
            suite.add_expectation(expectation)
        definitions.append(
            gx.ValidationDefinition(
                name=table, data=asset.add_batch_definition_whole_dataframe(table), suite=suite
            )
        )
    checks: list[CheckResult] = []
    for definition in definitions:
        table = definition.name
        validation = context.validation_definitions.add_or_update(definition)
        checkpoint = context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=f"{table}_checkpoint",
                validation_definitions=[validation],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
                result_format={"result_format": "COMPLETE"},
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": frames[table]})
        for run_result in outcome.run_results.values():
            for item in run_result.results:
                config = item.expectation_config
                column = config.kwargs.get("column")
                blocking = bool((config.meta or {}).get("blocking", True))
                result = item.result or {}
                if item.exception_info and item.exception_info.get("raised_exception"):
                    result = {"observed_value": item.exception_info.get("exception_message")}
                strict_rows = config.kwargs.get("mostly") in (None, 1, 1.0)
                checks.append(
                    CheckResult(
                        table=table,
                        expectation=config.type,
                        column=column,
                        blocking=blocking,
                        success=bool(item.success),
                        unexpected_count=result.get("unexpected_count"),
                        observed=None
                        if result.get("observed_value") is None
                        else str(result.get("observed_value")),
                        message=""
                        if item.success
                        else _describe(table, config.type, column, result, blocking),
                        rows=[int(i) for i in result.get("unexpected_index_list") or []]
                        if not item.success and strict_rows
                        else [],
                    )
                )
    return checks, sorted((docs_root / "validations").rglob("*.html"))


def _quarantine(raw: pd.DataFrame, table: str, checks: list[CheckResult]) -> pd.DataFrame:
    reasons: dict[int, list[str]] = {}
    for check in checks:
        if check.table != table:
            continue
        for row in check.rows:
            reasons.setdefault(row, []).append(f"{check.column or table}: {check.expectation}")
    if not reasons:
        empty = {QUARANTINE_ROW: pd.Series(dtype="int64"), QUARANTINE_REASONS: pd.Series(dtype=str)}
        return raw.iloc[0:0].assign(**empty)
    rows = sorted(reasons)
    bad = raw.loc[rows].astype(str)
    bad.insert(0, QUARANTINE_REASONS, ["; ".join(reasons[r]) for r in rows])
    bad.insert(0, QUARANTINE_ROW, rows)
    return bad.reset_index(drop=True)


def run(
    snapshot_dir: Path,
    validated_dir: Path,
    quarantine_dir: Path,
    report_json: Path,
    report_html: Path,
    reference_time: str,
    max_staleness_days: int,
    tolerance: float = 0.5,
) -> ValidationResult:
    from components.flights.suite import (
        SUITE_TABLES,
        SuiteParameters,
        allowed_values,
        build_suite,
    )

    started = time.perf_counter()
    snapshot_dir = Path(snapshot_dir)
    profile = load_profile()
    params = SuiteParameters(
        reference_time=localized(reference_time, TIMEZONE),
        max_staleness=timedelta(days=max_staleness_days),
        tolerance=tolerance,
    )
    raw = {t: pd.read_parquet(snapshot_dir / f"{t}.parquet") for t in TABLES}
    coerced: dict[str, pd.DataFrame] = {}
    checks: list[CheckResult] = []
    for table, frame in raw.items():
        coerced[table], type_failures = coerce_table(frame, TABLES[table])
        checks += [
            CheckResult(
                table=table,
                expectation=TYPE_EXPECTATION,
                column=f.column,
                blocking=True,
                success=False,
                unexpected_count=len(f.rows),
                observed=None,
                message=f"{table}.{f.column}: {TYPE_EXPECTATION} failed (blocking); "
                f"{len(f.rows)} values are not {f.kind}, e.g. {f.examples}",
                rows=f.rows,
            )
            for f in type_failures
        ]
    allowed = allowed_values(coerced, profile)
    suites = {
        t: build_suite(t, set(coerced[t].columns), profile, params, allowed[t])
        for t in SUITE_TABLES
    }
    with tempfile.TemporaryDirectory() as docs_root:
        ge_checks, pages = _run_suites(coerced, suites, Path(docs_root))
        checks += ge_checks
        write_html_report(report_html, checks, pages)

    validated_dir, quarantine_dir = Path(validated_dir), Path(quarantine_dir)
    validated_dir.mkdir(parents=True, exist_ok=True)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    quarantined: dict[str, int] = {}
    for table in TABLES:
        bad = _quarantine(raw[table], table, checks)
        bad.to_parquet(quarantine_dir / f"{table}.parquet", index=False)
        quarantined[table] = len(bad)
        coerced[table].drop(index=bad[QUARANTINE_ROW].tolist()).to_parquet(
            validated_dir / f"{table}.parquet", index=False
        )
    manifest = snapshot_dir / "manifest.json"
    if manifest.is_file():
        shutil.copy2(manifest, validated_dir / "manifest.json")

    failed = [c for c in checks if not c.success]
    result = ValidationResult(
        passed=not any(c.blocking for c in failed),
        rows={t: len(f) for t, f in raw.items()},
        quarantined=quarantined,
        failures=[_public(c) for c in failed if c.blocking],
        warnings=[_public(c) for c in failed if not c.blocking],
        checks=len(checks),
        seconds=round(time.perf_counter() - started, 3),
    )
    Path(report_json).parent.mkdir(parents=True, exist_ok=True)
    Path(report_json).write_text(json.dumps(result.to_dict(), indent=2, default=str))
    return result


def _public(check: CheckResult) -> dict:
    data = asdict(check)
    data.pop("rows")
    return data
