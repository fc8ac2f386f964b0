"""``kubeprom test promql FILE_OR_DIR...``: run promqltest files against the engine.

Prints every failure as ``file:line`` with expected and actual results, a line per file,
the skip reasons with their counts, and last ``N passed, M failed, K skipped``. Exits 1 if
any eval failed or any file is malformed.

``kubeprom test hpa CASES.yaml...`` runs HPA conformance case files the same way: each
failure as ``FAIL id (file:line)`` with expected and actual values, last ``N passed, M failed``.
"""

from __future__ import annotations

import argparse

from kubeprom.hpa import conformance
from kubeprom.promql import promqltest


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("test", help="run conformance test files")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    promql = kinds.add_parser("promql", help="run Prometheus promqltest files")
    promql.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    promql.add_argument(
        "--quiet", action="store_true", help="print only the per-file counts and the summary"
    )
    promql.add_argument(
        "--no-at-variants",
        action="store_true",
        help="skip upstream's extra @-modifier runs of every instant eval",
    )
    promql.set_defaults(func=run)
    hpa = kinds.add_parser("hpa", help="run HPA conformance case files")
    hpa.add_argument("paths", nargs="+", metavar="CASES.yaml")
    hpa.set_defaults(func=run_hpa)


def run(args: argparse.Namespace) -> int:
    files = promqltest.collect(args.paths)
    options = promqltest.Options(at_variants=not args.no_at_variants)
    reports = [promqltest.run_file(f, options) for f in files]
    for line in promqltest.render(reports, verbose=not args.quiet):
        print(line)
    summary = promqltest.summarize(reports)
    return 1 if summary.failed or summary.malformed else 0


def run_hpa(args: argparse.Namespace) -> int:
    reports = [conformance.run_file(path) for path in args.paths]
    for line in conformance.render(reports):
        print(line)
    return 1 if any(r.failures for r in reports) else 0
