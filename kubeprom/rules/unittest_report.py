"""Reports of a ``test rules`` run: promtool's text with diffs, JSON, and JUnit XML.

The text keeps promtool's structure: per file ``Unit Testing:  FILE`` on standard output,
then ``  SUCCESS`` on standard output or ``  FAILED:`` on standard error followed by each
failure (promtool's words, each followed by an empty line) and, under each failed
assertion, the diff of only what differs. Lint warnings follow, one per line with the test
file's ``file:line:col``; with ``lint_fatal`` they make the file FAILED. The last line counts
the assertions.

The JUnit XML is promtool's (``util/junitxml``): a ``testsuite`` per file, a ``testcase``
per test group with its failures, an ``error`` for a file that cannot run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kubeprom.model.timeutil import format_duration_ms
from kubeprom.rules.unittest import ALERT_TEST, FileResult, Verdict
from kubeprom.rules.unittest_diff import render_changes

Line = tuple[bool, str]
"""(to standard error, text)."""


@dataclass(frozen=True, slots=True)
class Totals:
    files: int
    groups: int
    assertions: int
    passed: int
    failed: int
    warnings: int

    def line(self, seconds: float) -> str:
        return (
            f"{self.passed} of {_n(self.assertions, 'assertion')} passed, {self.failed} failed "
            f"({_n(self.groups, 'test group')} in {_n(self.files, 'file')}, "
            f"{_n(self.warnings, 'lint warning')}) in {seconds:.2f}s"
        )


def _n(count: int, what: str) -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def totals(results: Sequence[FileResult]) -> Totals:
    asserts = [a for f in results for g in f.groups for a in g.assertions]
    passed = sum(a.verdict is Verdict.PASSED for a in asserts)
    return Totals(
        len(results),
        sum(len(f.groups) for f in results),
        len(asserts),
        passed,
        len(asserts) - passed,
        sum(len(f.warnings) for f in results),
    )


def file_failed(f: FileResult, *, lint_fatal: bool) -> bool:
    return f.failed or (lint_fatal and bool(f.warnings))


def exit_code(results: Sequence[FileResult], *, lint_fatal: bool) -> int:
    """promtool's: 1 when a test failed; 3 when only lint warnings failed the run."""
    if any(f.failed for f in results):
        return 1
    if lint_fatal and any(f.warnings for f in results):
        return 3
    return 0


def text_lines(f: FileResult, *, color: bool, lint_fatal: bool) -> Iterator[Line]:
    """One file's report."""
    yield False, f"Unit Testing:  {f.path}"
    for notice in f.notices:
        yield True, f"  WARNING: {notice}"
    warnings = [str(w) for w in f.warnings]
    if not file_failed(f, lint_fatal=lint_fatal):
        yield False, "  SUCCESS"
        for w in warnings:
            yield True, w
        yield False, ""
        return
    yield True, "  FAILED:"
    for err in f.errors:
        yield True, err
        yield False, ""
    for g in f.groups:
        diffs = {a.message: a.changes for a in g.assertions if a.message and a.changes}
        for message in g.messages:
            yield True, message
            changes = diffs.get(message)
            if changes:
                for line in render_changes(changes, color=color):
                    yield True, line
            yield False, ""
    if lint_fatal:
        for w in warnings:
            yield True, w
            yield False, ""
    else:
        for w in warnings:
            yield True, w
    yield False, ""


def to_json(results: Sequence[FileResult], seconds: float) -> dict[str, Any]:
    t = totals(results)
    return {
        "files": [_file_json(f) for f in results],
        "summary": {
            "files": t.files,
            "groups": t.groups,
            "assertions": t.assertions,
            "passed": t.passed,
            "failed": t.failed,
            "warnings": t.warnings,
            "seconds": round(seconds, 3),
        },
    }


def _file_json(f: FileResult) -> dict[str, Any]:
    return {
        "file": f.path,
        "ok": not f.failed,
        "errors": list(f.errors),
        "notices": list(f.notices),
        "groups": [
            {
                "name": g.name,
                "index": g.index,
                "line": g.place.line,
                "ok": not g.failed,
                "evaluation": g.mode,
                "seconds": round(g.seconds, 4),
                "errors": list(g.messages),
                "assertions": [
                    {
                        "kind": a.kind,
                        "index": a.index,
                        "line": a.place.line,
                        "eval_time": format_duration_ms(a.eval_ms),
                        ("alertname" if a.kind == ALERT_TEST else "expr"): a.subject,
                        "verdict": a.verdict.value,
                        "message": a.message,
                        "diff": [
                            {
                                "kind": c.kind,
                                "subject": c.subject,
                                "name": c.name,
                                "want": c.want,
                                "got": c.got,
                                "note": c.note,
                            }
                            for c in a.changes
                        ],
                    }
                    for a in g.assertions
                ],
                "warnings": [
                    {
                        "kind": w.kind,
                        "file": w.place.file,
                        "line": w.place.line,
                        "col": w.place.col,
                        "message": w.message,
                    }
                    for w in g.warnings
                ],
            }
            for g in f.groups
        ],
    }


def junit_xml(results: Sequence[FileResult], timestamp: str, *, lint_fatal: bool) -> str:
    """promtool's JUnit XML (``timestamp`` as ``2006-01-02T15:04:05``)."""
    root = ET.Element("testsuites")
    for f in results:
        failures = sum(len(g.messages) for g in f.groups)
        suite = ET.SubElement(root, "testsuite", name=f.path)
        cases = []
        for g in f.groups:
            case = ET.SubElement(suite, "testcase", name=g.name)
            cases.append(case)
            for message in g.messages:
                ET.SubElement(case, "failure").text = message
            if lint_fatal:
                for w in g.warnings:
                    ET.SubElement(case, "failure").text = str(w)
                    failures += 1
        errors = 0
        if f.errors:
            case = cases[-1] if cases else ET.SubElement(suite, "testcase", name="unknown")
            ET.SubElement(case, "error").text = "\n".join(f.errors)
            errors = 1
        suite.set("tests", str(len(cases) or (1 if f.errors else 0)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        suite.set("timestamp", timestamp if not f.errors else "")
    return ET.tostring(root, encoding="unicode")
