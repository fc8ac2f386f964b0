"""The must-fail suite: passing unit tests, mutated so that each must fail, and its diff
must name what was changed.

Mutations, generated from every passing assertion of the real-world tests and from the
kubernetes-mixin's: a wrong label value, a wrong annotation, a missing alert (one more
expected than fires), an extra alert (none expected), a wrong ``for`` (the rule's ``for``
made longer than the test allows: the alert is still pending) and a wrong value (a
``promql_expr_test`` sample). promtool must fail the same mutants.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeprom.model.gofmt import quote
from kubeprom.rules.unittest import Runner, Verdict
from kubeprom.rules.unittest_diff import Change
from tests.support import promtool
from tests.support.procs import require_binary
from tests.support.shared import shared_path

REALWORLD = Path(__file__).parent / "testdata" / "unittest" / "realworld"
PER_KIND = 6  # mutants of each kind per file (the first ones found)


@dataclass(frozen=True)
class Mutant:
    kind: str
    path: Path
    wants: tuple[str, ...]  # what the diff must contain: (change kind, and name or text)


def _alerts(doc: Any) -> Iterator[tuple[int, int, dict[str, Any]]]:
    for gi, group in enumerate(doc.get("tests") or []):
        for ai, case in enumerate(group.get("alert_rule_test") or []):
            if case.get("exp_alerts"):
                yield gi, ai, case


def _one(doc: Any, gi: int, kind: str, ai: int) -> Any:
    """``doc`` with only test group ``gi`` and its assertion ``ai`` of ``kind``."""
    one = copy.deepcopy(doc)
    group = one["tests"][gi]
    for k in ("alert_rule_test", "promql_expr_test"):
        group.pop(k, None)
    group[kind] = [copy.deepcopy(doc["tests"][gi][kind][ai])]
    one["tests"] = [group]
    return one


def _rule_files(doc: Any, base: Path) -> list[Path]:
    return [(base / f).resolve() for f in doc.get("rule_files") or []]


def _for_of(rule_files: list[Path], alertname: str) -> tuple[Path, Any, dict[str, Any]] | None:
    for path in rule_files:
        rules = promtool.load_text(path)
        for group in rules.get("groups") or []:
            for rule in group.get("rules") or []:
                if rule.get("alert") == alertname and rule.get("for") not in (None, "0", "0s"):
                    return path, rules, rule
    return None


def mutants(test_file: Path, out: Path) -> list[Mutant]:
    doc = promtool.load_text(test_file)
    base = test_file.parent
    doc["rule_files"] = [str(p) for p in _rule_files(doc, base)]
    found: list[Mutant] = []
    counts: dict[str, int] = {}

    def add(kind: str, mutated: Any, *wants: str) -> None:
        if counts.get(kind, 0) >= PER_KIND:
            return
        counts[kind] = counts.get(kind, 0) + 1
        path = out / f"{test_file.stem}-{kind}-{counts[kind]}.yml"
        promtool.dump_text(mutated, path)
        found.append(Mutant(kind, path, wants))

    for gi, ai, case in _alerts(doc):
        exp = case["exp_alerts"][0]
        labels = exp.get("exp_labels") or {}
        names = sorted(n for n in labels if n != "alertname")
        if names:
            m = _one(doc, gi, "alert_rule_test", ai)
            m["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]["exp_labels"][names[0]] += "-x"
            add("wrong-label", m, "label", names[0])
        annotations = exp.get("exp_annotations") or {}
        if annotations:
            name = sorted(annotations)[0]
            m = _one(doc, gi, "alert_rule_test", ai)
            exp_m = m["tests"][0]["alert_rule_test"][0]["exp_alerts"][0]
            exp_m["exp_annotations"][name] += " (changed)"
            add("wrong-annotation", m, "annotation", name, quote(exp_m["exp_annotations"][name]))
        m = _one(doc, gi, "alert_rule_test", ai)
        extra = copy.deepcopy(m["tests"][0]["alert_rule_test"][0]["exp_alerts"][0])
        extra.setdefault("exp_labels", {})["mutation"] = "missing"
        m["tests"][0]["alert_rule_test"][0]["exp_alerts"].append(extra)
        add("missing-alert", m, "missing", 'mutation="missing"')
        m = _one(doc, gi, "alert_rule_test", ai)
        m["tests"][0]["alert_rule_test"][0]["exp_alerts"] = []
        add("extra-alert", m, "unexpected")
        hit = _for_of([Path(p) for p in doc["rule_files"]], case["alertname"])
        if hit is not None and counts.get("wrong-for", 0) < PER_KIND:
            rule_path, rules, rule = hit
            rule["for"] = "10h"
            longer = out / f"{test_file.stem}-wrong-for-{counts.get('wrong-for', 0) + 1}.rules.yml"
            promtool.dump_text(rules, longer)
            m = _one(doc, gi, "alert_rule_test", ai)
            m["rule_files"] = [str(longer) if p == str(rule_path) else p for p in m["rule_files"]]
            add("wrong-for", m, "missing", "pending since", "(for: 10h)")
    for gi, group in enumerate(doc.get("tests") or []):
        for ai, case in enumerate(group.get("promql_expr_test") or []):
            samples = case.get("exp_samples") or []
            if not samples or "value" not in samples[0]:
                continue
            m = _one(doc, gi, "promql_expr_test", ai)
            sample = m["tests"][0]["promql_expr_test"][0]["exp_samples"][0]
            sample["value"] = repr(float(sample["value"]) + 1)
            add("wrong-value", m, "value")
    return found


def _named(changes: tuple[Change, ...], wants: tuple[str, ...]) -> bool:
    kind, *texts = wants
    for c in changes:
        blob = " ".join(str(x) for x in (c.subject, c.name, c.want, c.got, c.note))
        if c.kind == kind and all(t in blob for t in texts):
            return True
    return False


def _sources() -> list[Path]:
    return sorted(REALWORLD.glob("*_test.yml"))


@pytest.mark.parametrize("source", _sources(), ids=[p.name for p in _sources()])
def test_mutants_fail_and_the_diff_names_the_change(source: Path, tmp_path: Path) -> None:
    found = mutants(source, tmp_path)
    assert {m.kind for m in found} >= {
        "wrong-label",
        "wrong-annotation",
        "missing-alert",
        "extra-alert",
    }
    runner = Runner()
    for m in found:
        result = runner.run_file(str(m.path))
        [group] = result.groups
        [assertion] = group.assertions
        assert assertion.verdict is Verdict.FAILED, (m.kind, m.path)
        assert _named(assertion.changes, m.wants), (m.kind, m.wants, assertion.changes)


@pytest.mark.parametrize(
    "name",
    ["tests.yaml", "absent_alert-test.yaml", "apps_alerts-test.yaml", "rules-pod-owner-test.yaml"],
)
def test_mixin_mutants_fail_and_the_diff_names_the_change(name: str, tmp_path: Path) -> None:
    source = shared_path("conformance", "rules", "kubernetes-mixin", "tests", name)
    found = mutants(source, tmp_path)
    assert found
    runner = Runner()
    for m in found:
        [group] = runner.run_file(str(m.path)).groups
        [assertion] = group.assertions
        assert assertion.verdict is Verdict.FAILED, (m.kind, m.path)
        assert _named(assertion.changes, m.wants), (m.kind, m.wants, assertion.changes)


def test_every_kind_is_generated(tmp_path: Path) -> None:
    kinds = {m.kind for source in _sources() for m in mutants(source, tmp_path)}
    assert kinds == {
        "wrong-label",
        "wrong-annotation",
        "missing-alert",
        "extra-alert",
        "wrong-for",
        "wrong-value",
    }


@pytest.mark.slow
@pytest.mark.parametrize("source", _sources(), ids=[p.name for p in _sources()])
def test_promtool_fails_the_mutants_too(source: Path, tmp_path: Path) -> None:
    binary = require_binary("promtool")
    for m in mutants(source, tmp_path):
        rc, text = promtool.run(binary, m.path)
        assert rc == 1, (m.kind, text)
