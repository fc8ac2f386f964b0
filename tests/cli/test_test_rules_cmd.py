"""``kubeprom test rules``: promtool's output and exit codes, diffs, lints, JUnit, JSON."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kubeprom.cli.main import main

RULES = """\
groups:
- name: g
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: Down
    expr: up == 0
    for: 5m
    labels:
      severity: page
    annotations:
      summary: '{{ $labels.instance }} is down ({{ $value }})'
"""

TESTS = """\
rule_files: [rules.yml]
tests:
- name: passes
  interval: 1m
  input_series:
  - series: 'up{job="api",instance="a"}'
    values: '0x10'
  alert_rule_test:
  - eval_time: 6m
    alertname: Down
    exp_alerts:
    - exp_labels: {severity: page, job: api, instance: a}
      exp_annotations: {summary: 'a is down (0)'}
- name: fails
  interval: 1m
  input_series:
  - series: 'up{job="api",instance="a"}'
    values: '0x10'
  alert_rule_test:
  - eval_time: 6m
    alertname: Down
    exp_alerts:
    - exp_labels: {severity: ticket, job: api, instance: a}
      exp_annotations: {summary: 'a is down (0)'}
  promql_expr_test:
  - expr: job:up:sum
    eval_time: 2m
    exp_samples:
    - labels: 'job:up:sum{job="api"}'
      value: 1
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "test.yml").write_text(TESTS)
    return tmp_path


def test_success_and_failure_as_promtool(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", "rules", "--color", "never", "--run", "^passes$", str(files / "test.yml")])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith(f"Unit Testing:  {files / 'test.yml'}\n  SUCCESS\n\n")
    assert out.splitlines()[-1].startswith(
        "1 of 1 assertion passed, 0 failed (1 test group in 1 file"
    )
    assert err == ""
    code = main(["test", "rules", "--color", "never", str(files / "test.yml")])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("  FAILED:\n    name: fails,\n    alertname: Down, time: 6m, \n")
    assert (
        "        diff (-want +got):\n"
        '          {alertname="Down", instance="a", job="api"}\n'
        '            - label severity: "ticket"\n'
        '            + label severity: "page"\n'
    ) in err
    assert (
        '    expr: "job:up:sum", time: 2m,\n'
        '        exp: {__name__="job:up:sum", job="api"} 1E+00\n'
        '        got: {__name__="job:up:sum", job="api"} 0E+00\n'
    ) in err
    assert out.splitlines()[-1].startswith("1 of 3 assertions passed, 2 failed")


def test_colour(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["test", "rules", "--color", "always", "--run", "fails", str(files / "test.yml")])
    err = capsys.readouterr().err
    assert '\x1b[31m- label severity: \x1b[0m\x1b[31m"\x1b[1mticket\x1b[0m\x1b[31m"\x1b[0m' in err
    main(["test", "rules", "--color", "never", "--run", "fails", str(files / "test.yml")])
    assert "\x1b[" not in capsys.readouterr().err


def test_json(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["test", "rules", "-o", "json", str(files / "test.yml")])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["summary"]["assertions"] == 3
    assert report["summary"]["failed"] == 2
    [f] = report["files"]
    passes, fails = f["groups"]
    assert passes["ok"] is True
    assert passes["evaluation"] == "range"
    alert, expr = fails["assertions"]
    assert (alert["kind"], alert["alertname"], alert["eval_time"], alert["verdict"]) == (
        "alert_rule_test",
        "Down",
        "6m",
        "failed",
    )
    assert alert["diff"] == [
        {
            "kind": "label",
            "subject": '{alertname="Down", instance="a", job="api"}',
            "name": "severity",
            "want": '"ticket"',
            "got": '"page"',
            "note": "",
        }
    ]
    assert expr["diff"][0]["kind"] == "value"
    assert (expr["diff"][0]["want"], expr["diff"][0]["got"]) == ("1", "0")


def test_junit(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit = files / "out.xml"
    main(["test", "rules", "--junit", str(junit), str(files / "test.yml")])
    capsys.readouterr()
    root = ET.fromstring(junit.read_text())
    [suite] = root.findall("testsuite")
    assert suite.attrib["name"] == str(files / "test.yml")
    assert (suite.attrib["tests"], suite.attrib["failures"], suite.attrib["errors"]) == (
        "2",
        "2",
        "0",
    )
    cases = suite.findall("testcase")
    assert [c.attrib["name"] for c in cases] == ["passes", "fails"]
    assert cases[0].findall("failure") == []
    texts = [f.text or "" for f in cases[1].findall("failure")]
    assert texts[0].startswith("    name: fails,\n    alertname: Down, time: 6m,")
    assert texts[1].startswith('    expr: "job:up:sum", time: 2m,')


def test_lint_warnings_and_lint_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "t.yml").write_text(
        """\
rule_files: [rules.yml]
tests:
- interval: 1m
  input_series:
  - series: 'up{job="api",instance="a"}'
    values: '0 0 0'
  - series: 'upp{job="api",instance="a"}'
    values: '1'
  alert_rule_test:
  - eval_time: 4m
    alertname: Down
    exp_alerts:
    - exp_labels: {severity: page, job: api, instance: a}
      exp_annotations: {summary: 'a is down (0)'}
"""
    )
    path = tmp_path / "t.yml"
    assert main(["test", "rules", "--color", "never", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:7:5: warning: no rule and no tested expression reads metric 'upp'" in err
    assert (
        f"{path}:10:5: warning: eval_time 4m is after the last sample (2m) of every input "
        "series Down reads (after-last-sample)"
    ) in err
    assert (
        f"{path}:10:5: warning: expects Down firing at 4m, but its rule's for of 5m lets it "
        "fire at 5m at the earliest (for-too-long)"
    ) in err
    # The same findings on a passing test: warnings only, unless --lint-fatal.
    text = path.read_text()
    path.write_text(text[: text.index("    exp_alerts:")])
    assert main(["test", "rules", str(path)]) == 0
    assert "  SUCCESS" in capsys.readouterr().out
    assert main(["test", "rules", "--lint-fatal", str(path)]) == 3
    err = capsys.readouterr().err
    assert "  FAILED:" in err
    assert "(unread-series)" in err


def test_files_that_cannot_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("rule_files: [nothing-*.yml]\ntests:\n- intervall: 1m\n")
    assert main(["test", "rules", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:3: tests[0].intervall: field intervall not found in type main.testGroup" in err
    order = tmp_path / "order.yml"
    order.write_text("rule_files: [nothing-*.yml]\ngroup_eval_order: [a, b, a]\ntests: []\n")
    assert main(["test", "rules", str(order)]) == 1
    assert "group name repeated in evaluation order: a" in capsys.readouterr().err
    empty = tmp_path / "empty.yml"
    empty.write_text("rule_files: [nothing-*.yml]\ntests: []\n")
    assert main(["test", "rules", str(empty)]) == 0
    err = capsys.readouterr().err
    assert f"  WARNING: no file match pattern {tmp_path / 'nothing-*.yml'}" in err
