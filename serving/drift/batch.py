"""Batch drift, in the drift environment: `python -m serving.drift.batch --current B.parquet
[--reference A.parquet] [--model DIR] --out DIR`. `sluice drift` runs it there.

Writes `drift.json` and `drift.html` and exits 1 on drift, 0 without, 2 on input it
cannot take (one line naming the file or column)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import NoReturn

from components.base.contract.metadata import ModelMetadata
from components.flights.request import CALENDAR_FEATURES
from serving.drift.check import DriftResult, check
from serving.drift.detectors import CORRECTIONS, DETECTORS, LICENCE_NOTE
from serving.drift.inputs import (
    Features,
    InputError,
    encode,
    read_parquet,
    reference_sample,
    require,
)
from serving.drift.report import render

DRIFT, NO_DRIFT, BAD_INPUT, FAILED = 1, 0, 2, 3
"""Exit codes: 3 is a check that failed by itself (an unwritable --out, a broken
environment), never to be read as drift."""
JSON_REPORT, HTML_REPORT = "drift.json", "drift.html"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="serving.drift.batch", description=__doc__)
    p.add_argument("--current", type=Path, required=True, help="the window to check (Parquet)")
    p.add_argument("--reference", type=Path, help="Parquet (default: the model's reference sample)")
    p.add_argument("--model", type=Path, help="model directory: its features and reference sample")
    p.add_argument("--out", type=Path, default=Path("."), help="where the reports go")
    p.add_argument("--detector", choices=DETECTORS, default="alibi")
    p.add_argument("--correction", choices=CORRECTIONS, default="bonferroni")
    p.add_argument("--p-val", type=float, default=0.05, help="significance before correction")
    p.add_argument(
        "--exclude",
        default=",".join(CALENDAR_FEATURES),
        help="features left out, comma-separated; replaces the default (the calendar "
        "ones); '' for none",
    )
    return p


def run(args: argparse.Namespace) -> DriftResult:
    if args.reference is None and args.model is None:
        raise InputError("give --reference, or --model to compare with its reference sample")
    metadata = None
    if args.model is not None:
        try:
            metadata = ModelMetadata.read(args.model)
        except (FileNotFoundError, ValueError) as exc:
            raise InputError(str(exc).splitlines()[0]) from None
    if args.reference is not None:
        reference, ref_source = read_parquet(args.reference), str(args.reference)
    else:
        reference, ref_source = (
            reference_sample(metadata, args.model),
            f"{args.model} reference_sample",
        )
    current = read_parquet(args.current)
    everything = Features.from_metadata(metadata) if metadata else Features.from_frame(reference)
    excluded = [f for f in args.exclude.split(",") if f]
    unknown = sorted(set(excluded) - set(everything.names))
    if unknown and args.exclude != parser().get_default("exclude"):
        raise InputError(f"--exclude {', '.join(unknown)}: no such feature")
    if not 0 < args.p_val < 1:
        raise InputError(f"--p-val {args.p_val}: a significance level in (0, 1)")
    features = everything.without(excluded)
    require(reference, features, ref_source)
    require(current, features, str(args.current))
    x_ref, x = encode(reference, current, features, (ref_source, str(args.current)))
    excluded = [f for f in excluded if f in everything.names]
    result = check(x_ref, x, features, args.detector, args.p_val, args.correction, excluded)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / JSON_REPORT).write_text(json.dumps(result.to_dict(), indent=1))
    (args.out / HTML_REPORT).write_text(render(result, reference, current))
    return result


def summary(result: DriftResult, out: Path) -> str:
    verdict = "DRIFT" if result.is_drift else "no drift"
    lines = [
        f"{verdict}: {sum(f.drifted for f in result.features)} of {len(result.features)} "
        f"features below p {result.threshold:.3g} ({result.detector}, {result.correction}); "
        f"{result.rows_current} rows against {result.rows_reference}",
        f"{'feature':<24} {'p-value':>10} {'PSI':>7}",
    ]
    lines += [
        f"{f.feature:<24} {f.p_value:>10.3g} {f.psi:>7.3f}{'  drifted' if f.drifted else ''}"
        for f in result.features[:8]
    ]
    lines.append(f"reports: {out / JSON_REPORT}, {out / HTML_REPORT}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.detector == "alibi":
        print(LICENCE_NOTE, file=sys.stderr)
    try:
        result = run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except Exception as exc:  # not drift: say so, on one line
        print(f"error: the drift check failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return FAILED
    print(summary(result, args.out))
    return DRIFT if result.is_drift else NO_DRIFT


def exit_without_teardown(code: int) -> NoReturn:
    """Exit once everything is written, without tearing the interpreter down: at teardown
    pyarrow's Parquet reader threads can abort the process ("terminate called without an
    active exception", apache/arrow#34314, open), turning a finished check's exit code into
    SIGABRT's. The reports are closed files by now; only the standard streams need a flush."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
