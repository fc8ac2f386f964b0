"""``kubeprom test promql FILE_OR_DIR...``: run promqltest files against the engine.

Prints every failure as ``file:line`` with expected and actual results, a line per file,
the skip reasons with their counts, and last ``N passed, M failed, K skipped``. Exits 1 if
any eval failed or any file is malformed.

``kubeprom test hpa CASES.yaml...`` runs HPA conformance case files the same way: each
failure as ``FAIL id (file:line)`` with expected and actual values, last ``N passed, M failed``.

``kubeprom test rules TESTFILE...`` runs promtool's rule unit-test files
(:mod:`kubeprom.rules.unittest`) with promtool's output and exit codes, plus a diff under
each failure, lint warnings, ``--junit FILE``, ``-o json`` and ``--run REGEX``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from kubeprom.clock import RealClock, elapsed_s
from kubeprom.hpa import conformance
from kubeprom.model.timeutil import format_rfc3339
from kubeprom.promql import promqltest
from kubeprom.rules import unittest_report as report
from kubeprom.rules.unittest import Runner, RunOptions


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
    rules = kinds.add_parser(
        "rules", help="run promtool rule unit-test files (as promtool test rules)"
    )
    rules.add_argument("files", nargs="+", metavar="TESTFILE")
    rules.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="REGEX",
        help="only run test groups whose name matches (RE2; may be given more than once)",
    )
    rules.add_argument("--junit", metavar="FILE", help="write JUnit XML results to FILE")
    rules.add_argument(
        "-o", "--output", choices=["text", "json"], default="text", help="report format"
    )
    rules.add_argument(
        "--lint-fatal", action="store_true", help="make lint warnings fail the tests (exit 3)"
    )
    rules.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the diffs (auto: when standard error is a terminal and NO_COLOR is unset)",
    )
    rules.add_argument(
        "--ignore-unknown-fields",
        action="store_true",
        help="ignore fields of the test files kubeprom does not know",
    )
    rules.set_defaults(func=run_rules)


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


def run_rules(args: argparse.Namespace) -> int:
    clock = RealClock()
    started = clock.monotonic_ns()
    # Rule errors are the tests' results here; the engine's own warnings about them would
    # only repeat them (promtool runs its rule manager with a no-op logger).
    logging.getLogger("kubeprom.rules").setLevel(logging.ERROR)
    runner = Runner(
        RunOptions(run=tuple(args.run), ignore_unknown_fields=args.ignore_unknown_fields)
    )
    color = args.color == "always" or (
        args.color == "auto" and sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    )
    results = []
    for path in args.files:
        result = runner.run_file(path)
        results.append(result)
        if args.output == "text":
            for to_err, line in report.text_lines(result, color=color, lint_fatal=args.lint_fatal):
                print(line, file=sys.stderr if to_err else sys.stdout, flush=True)
    seconds = elapsed_s(clock, started)
    if args.output == "json":
        print(json.dumps(report.to_json(results, seconds), indent=1))
    else:
        print(report.totals(results).line(seconds))
    if args.junit:
        stamp = format_rfc3339(RealClock().now_ms())[:19]
        with open(args.junit, "w", encoding="utf-8") as out:
            out.write(report.junit_xml(results, stamp, lint_fatal=args.lint_fatal))
    return report.exit_code(results, lint_fatal=args.lint_fatal)
