"""One self-contained HTML page: the check table, then each table's Data Docs page."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.validate import CheckResult

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:600}.warn{color:#9a6700;font-weight:600}
iframe{width:100%;height:900px;border:1px solid #ccc;margin-bottom:2rem}
"""


def write_html_report(path: Path, checks: list[CheckResult], pages: list[Path]) -> None:
    failed = [c for c in checks if not c.success]
    blocking = [c for c in failed if c.blocking]
    verdict = "FAILED" if blocking else "PASSED"
    rows = []
    for check in sorted(checks, key=lambda c: (c.success, not c.blocking, c.table)):
        status = "pass" if check.success else ("fail" if check.blocking else "warn")
        rows.append(
            "<tr>"
            f"<td class={status}>{status}</td><td>{html.escape(check.table)}</td>"
            f"<td>{html.escape(check.column or '')}</td><td>{html.escape(check.expectation)}</td>"
            f"<td>{'yes' if check.blocking else 'no'}</td>"
            f"<td>{check.unexpected_count if check.unexpected_count is not None else ''}</td>"
            f"<td>{html.escape(check.observed or '')[:200]}</td>"
            "</tr>"
        )
    frames = "".join(
        f"<h2>Data Docs: {html.escape(page.stem)}</h2>"
        f'<iframe srcdoc="{html.escape(page.read_text())}"></iframe>'
        for page in pages
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(
        f"<!doctype html><html><head><meta charset=utf-8><title>sluice validation</title>"
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>Validation {verdict}</h1>"
        f"<p>{len(checks)} checks, {len(blocking)} blocking failures, "
        f"{len(failed) - len(blocking)} warnings.</p>"
        "<table><tr><th>status</th><th>table</th><th>column</th><th>expectation</th>"
        f"<th>blocking</th><th>unexpected</th><th>observed</th></tr>{''.join(rows)}</table>"
        f"{frames}</body></html>"
    )
