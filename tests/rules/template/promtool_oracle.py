"""Go's own rendering of alert templates, from Debian's promtool 2.42.

Exec cases: one alerting rule per case (annotation ``t`` is the template), a ``promtool
test rules`` file that expects an empty annotation, and the ``got:`` block of the failure
report gives Go's rendering. Parse-error cases go through ``promtool check rules``.
"""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from kubeprom.model.gofmt import quote
from tests.rules.template.cases import EXTERNAL_LABELS, EXTERNAL_URL, QUERY_SERIES, Case


def _series_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    return repr(v)


def _selector(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()) if v != "")
    return f"{name}{{{inner}}}"


def _metric(case: Case) -> str:
    return "tcase_" + case.id


def write_files(cases: Sequence[Case], workdir: Path) -> tuple[Path, Path]:
    """The rule file and the promtool test file for the exec cases."""
    rules = []
    for case in cases:
        rules.append(
            {"alert": case.id, "expr": f"{_metric(case)} * 1", "annotations": {"t": case.tmpl}}
        )
    rule_file = workdir / "rules.yml"
    rule_file.write_text(json.dumps({"groups": [{"name": "corpus", "rules": rules}]}))
    tests = []
    for ext in (False, True):
        group = [c for c in cases if c.ext == ext]
        if not group:
            continue
        series = [{"series": s, "values": f"{v!r} {v!r} {v!r}"} for s, v in QUERY_SERIES]
        series += [
            {
                "series": _selector(_metric(c), c.labels),
                "values": " ".join([_series_value(c.value)] * 3),
            }
            for c in group
        ]
        test: dict[str, object] = {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {
                    "eval_time": "1m",
                    "alertname": c.id,
                    "exp_alerts": [{"exp_labels": {}, "exp_annotations": {}}],
                }
                for c in group
            ],
        }
        if ext:
            test["external_labels"] = EXTERNAL_LABELS
            test["external_url"] = EXTERNAL_URL
        tests.append(test)
    test_file = workdir / "tests.yml"
    test_file.write_text(
        json.dumps({"rule_files": [rule_file.name], "evaluation_interval": "1m", "tests": tests})
    )
    return rule_file, test_file


_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _unquote(body: str) -> str:
    """The value of a Go-quoted label value (strconv.Quote output)."""
    return str(ast.literal_eval('"' + body + '"'))


def parse_got(output: str) -> dict[str, str]:
    """alertname -> annotation ``t`` from promtool's failure report."""
    got: dict[str, str] = {}
    current = None
    in_got = False
    for line in output.splitlines():
        s = line.strip()
        m = re.match(r"alertname: (\S+), time:", s)
        if m:
            current, in_got = m.group(1), False
        elif s.startswith("got:["):
            in_got = True
        elif in_got and current and s.startswith("Annotations:{"):
            pairs = {k: _unquote(v) for k, v in _PAIR.findall(s[len("Annotations:{") : -1])}
            got[current] = pairs["t"]
            in_got = False
    return got


def render(promtool: str, cases: Sequence[Case], workdir: Path) -> dict[str, str]:
    """case id -> Go's expansion (or Prometheus' ``<error expanding template: ...>``)."""
    _, test_file = write_files(cases, workdir)
    proc = subprocess.run(
        [promtool, "test", "rules", test_file.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    got = parse_got(proc.stdout + proc.stderr)
    missing = [c.id for c in cases if c.id not in got]
    if missing:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise AssertionError(f"promtool gave no rendering for {missing[:5]}:\n{tail}")
    return got


_CHECK_LINE = re.compile(
    r'^.*?: group "corpus", rule \d+, "(?P<id>[^"]+)": annotation "t": (?P<msg>.*)$'
)


def parse_errors(promtool: str, cases: Iterable[Case], workdir: Path) -> dict[str, str]:
    """case id -> the parse error ``promtool check rules`` reports ("" when it parses)."""
    cases = list(cases)
    rules = [{"alert": c.id, "expr": "up", "annotations": {"t": c.tmpl}} for c in cases]
    path = workdir / "bad.yml"
    path.write_text(json.dumps({"groups": [{"name": "corpus", "rules": rules}]}))
    proc = subprocess.run(
        [promtool, "check", "rules", path.name],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        m = _CHECK_LINE.match(line)
        if m:
            found[m.group("id")] = m.group("msg")
    return {c.id: found.get(c.id, "") for c in cases}
