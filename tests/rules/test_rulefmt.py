"""Rule files: what ``kubeprom check rules`` reports, with positions, against promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from kubeprom.cli.main import main
from kubeprom.rules.rulefmt import (
    RuleKind,
    lint_duplicates,
    load_rule_file,
    rule_labels,
    scalar_position,
)
from tests.support.procs import require_binary
from tests.support.shared import shared_path

TESTDATA = Path(__file__).parent / "testdata"

BAD = {
    "bad_duration": ['6:14: group "g", rule 1 ("a"): unknown unit "x" in duration "5x"'],
    "bad_expr": [
        '5:31: group "g", rule 1 ("job:up:sum"): could not parse expression: '
        "unclosed left parenthesis"
    ],
    "bad_expr_block": ['8:15: group "g", rule 1 ("Block"): could not parse expression: '],
    "bad_expr_folded": [
        '7:21: group "g", rule 1 ("Folded"): could not parse expression: '
        "unexpected right parenthesis ')'"
    ],
    "bad_expr_quoted": [
        '5:32: group "g", rule 1 ("q"): could not parse expression: unclosed left parenthesis'
    ],
    "bad_field": ['6:9: group "g", rule 1 ("a"): field foo not found in type rulefmt.Rule'],
    "bad_group_field": [
        '3:5: group "g": field evaluation_interval not found in type rulefmt.RuleGroup'
    ],
    "bad_yaml": ["4:1: invalid YAML: expected the node content, but found '<stream end>'"],
    "duplicate_group": ['4:5: groupname: "g" is repeated in the same file'],
    "empty_group_name": ["2:5: group name must not be empty"],
    "invalid_annotation_name": [
        '7:11: group "g", rule 1 ("A"): invalid annotation name \'bad-name\''
    ],
    "invalid_label_name": ['7:11: group "g", rule 1 ("A"): invalid label name \'0bad\''],
    "invalid_record_name": [
        '4:17: group "g", rule 1 ("bad name"): invalid recording rule name \'bad name\''
    ],
    "no_expr": ['4:9: group "g", rule 1 ("a"): field \'expr\' must be set in rule'],
    "no_record_alert": ["4:9: group \"g\", rule 1: one of 'record' or 'alert' must be set"],
    "record_and_alert": [
        "4:17: group \"g\", rule 1 (\"b\"): only one of 'record' and 'alert' must be set"
    ],
    "record_and_for": ['6:14: group "g", rule 1 ("a"): invalid field \'for\' in recording rule'],
    "record_and_keep_firing_for": [
        '6:26: group "g", rule 1 ("a"): invalid field \'keep_firing_for\' in recording rule'
    ],
    "record_annotations": [
        '6:22: group "g", rule 1 ("a"): invalid field \'annotations\' in recording rule'
    ],
    "record_braces": [
        '4:17: group "g", rule 1 ("up{job=\\"a\\"}"): invalid recording rule name \'up{job="a"}\'',
        '4:17: group "g", rule 1 ("up{job=\\"a\\"}"): braces present in the recording rule '
        "name; should it be in expr?: 'up{job=\"a\"}'",
    ],
}


@pytest.mark.parametrize("name", sorted(BAD), ids=sorted(BAD))
def test_bad_file_reports_each_problem_at_its_place(name: str) -> None:
    path = str(TESTDATA / f"{name}.bad.yml")
    _, errors = load_rule_file(path)
    got = [str(e) for e in errors]
    assert len(got) == len(BAD[name])
    for line, want in zip(got, BAD[name], strict=True):
        assert line.startswith(f"{path}:{want}")


def test_good_file_reads_every_field() -> None:
    rf, errors = load_rule_file(str(TESTDATA / "good.good.yml"))
    assert errors == []
    node, empty = rf.groups
    assert (node.name, node.interval_ms, node.query_offset_ms, node.limit) == (
        "node",
        30_000,
        60_000,
        10,
    )
    assert (empty.name, empty.rules, empty.interval_ms, empty.query_offset_ms) == (
        "empty",
        (),
        0,
        None,
    )
    rec, alert = node.rules
    assert (rec.kind, rec.name, rec.expr, rec.index) == (
        RuleKind.RECORDING,
        "job:up:sum",
        "sum by (job) (up)",
        1,
    )
    assert rule_labels(node, rec).to_dict() == {"team": "infra", "kind": "recorded"}
    assert (alert.kind, alert.for_ms, alert.keep_firing_for_ms, alert.index) == (
        RuleKind.ALERTING,
        300_000,
        60_000,
        2,
    )
    assert dict(alert.annotations) == {"summary": "instance {{ $labels.instance }} is down"}
    assert (alert.line, alert.col) == (11, 9)


def test_position_inside_a_block_scalar_counts_file_lines_and_indentation() -> None:
    node = yaml.compose("e: |\n  sum(\n    rate(x[5m]\n  )\n").value[0][1]
    value = str(node.value)
    assert scalar_position("e: |\n  sum(\n    rate(x[5m]\n  )\n", node, value.index("rate")) == (
        3,
        5,
    )
    assert scalar_position("e: |\n  sum(\n    rate(x[5m]\n  )\n", node, 0) == (2, 3)


def test_duplicate_rules_lint_as_promtool(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(TESTDATA / "dup_rules.lint.yml")
    rf, errors = load_rule_file(path)
    assert errors == []
    dups = lint_duplicates(rf)
    assert [(d.name, d.labels.to_dict(), d.group.name, d.rule.index) for d in dups] == [
        ("job:up:sum", {"team": "a"}, "h", 1)
    ]
    assert main(["check", "rules", path]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"Checking {path}", ""]
    assert err.splitlines() == [
        "  FAILED:",
        f'{path}:9:9: group "h", rule 1 ("job:up:sum"): lint: duplicate rule',
        "lint error 1 duplicate rule(s) found.",
        "Metric: job:up:sum",
        "Label(s):",
        "\tteam: a",
        "Might cause inconsistency while recording expressions",
    ]
    assert main(["check", "rules", "--lint-fatal", path]) == 3
    assert main(["check", "rules", "--lint=none", "--lint-fatal", path]) == 0


def test_check_rules_output_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    good = str(TESTDATA / "prom2.good.yml")
    bad = str(TESTDATA / "no_expr.bad.yml")
    assert main(["check", "rules", good, bad]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"Checking {good}",
        "  SUCCESS: 2 rules found",
        "",
        f"Checking {bad}",
        "",
    ]
    assert err.splitlines() == [
        "  FAILED:",
        f'{bad}:4:9: group "g", rule 1 ("a"): field \'expr\' must be set in rule',
    ]


def test_check_config_checks_the_rule_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.yml").write_text((TESTDATA / "no_expr.bad.yml").read_text())
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("rule_files: ['rules/*.yml']\n")
    assert main(["check", "config", str(cfg)]) == 1
    out, err = capsys.readouterr()
    rule_file = str(tmp_path / "rules" / "bad.yml")
    assert out.splitlines() == [
        f"Checking {cfg}",
        "  SUCCESS: 1 rule files found",
        f" SUCCESS: {cfg} is valid prometheus config file syntax",
        "",
        f"Checking {rule_file}",
        "",
    ]
    assert err.splitlines()[1].startswith(f"{rule_file}:4:9: ")


# Files using 3.x-only fields (query_offset, group labels) that promtool 2.42 rejects.
_NEWER_THAN_PROMTOOL = {"good.good.yml"}


@pytest.mark.slow
def test_same_verdicts_as_promtool(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    files = sorted(p for p in TESTDATA.glob("*.yml") if p.name not in _NEWER_THAN_PROMTOOL)
    mixin = shared_path("conformance", "rules", "kubernetes-mixin")
    files += sorted(mixin.glob("prometheus_*.yaml"))
    verdicts = []
    for f in files:
        theirs = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True)
        for fatal in ([], ["--lint-fatal"]):
            theirs = subprocess.run(
                [promtool, "check", "rules", *fatal, str(f)], capture_output=True
            ).returncode
            ours = main(["check", "rules", *fatal, str(f)])
            verdicts.append((f.name, fatal, ours, theirs))
    assert [v for v in verdicts if v[2] != v[3]] == []
    assert {v[0] for v in verdicts if v[2] == 3} >= {"dup_rules.lint.yml", "prometheus_rules.yaml"}
