"""The fast evaluation (a range query per rule) equals promtool's step-by-step loop.

Both modes run on the same test groups; the stores they leave (every recorded series and
``ALERTS`` sample, staleness markers included, compared bit for bit) and the alerts compared
at each step must be identical. Generated rule files cover rules reading rules evaluated
before and after them, rules reading themselves, cycles, ``for``, ``keep_firing_for``,
templated labels and annotations, query offsets, limits, outputs that collide with the
input, and staleness in the input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.rules.unittest import EvalMode, Runner, RunOptions
from kubeprom.rules.unittest_eval import GroupEvaluation
from kubeprom.rules.unittest_file import load_test_file
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
from tests.support.shared import shared_files, shared_path

MIXIN = ("conformance", "rules", "kubernetes-mixin")
MAX_STEPS = 40  # the step-by-step loop is slow on long tests (12 hours); range mode runs them


def dump(ev: GroupEvaluation) -> dict[str, Any]:
    found = ev.store.select([Matcher(MatchType.REGEX, "__name__", ".+")], MIN_TIME, MAX_TIME)
    store = {str(s.labels): (s.t.tolist(), s.v.view(np.uint64).tolist()) for s in found}
    snaps = {
        k: sorted((str(a.labels), str(a.annotations), a.state.value, a.active_at_ms) for a in v)
        for k, v in ev.snapshots.items()
        if v
    }
    return {"store": store, "snapshots": snaps, "errors": ev.errors}


@pytest.mark.timeout(600)  # the step-by-step loop over 136 rules takes its time
@pytest.mark.parametrize("parts", shared_files(*MIXIN, "tests", pattern="*.yaml"))
def test_range_equals_steps_on_the_mixin(parts: tuple[str, ...]) -> None:
    path = str(shared_path(*parts))
    # The 12-hour test groups take minutes step by step; the others are compared.
    short = {tg.index for tg in load_test_file(path).tests if tg.max_eval_ms < MAX_STEPS * 60_000}
    fast = Runner().evaluations(path, short)
    slow = Runner(RunOptions(mode=EvalMode.STEPS)).evaluations(path, short)
    ranged = 0
    for (tg, a, mode), (_, b, _) in zip(fast, slow, strict=True):
        assert dump(a) == dump(b), tg.display_name
        ranged += mode == "range"
    assert ranged > 0


# ---- generated rule files ------------------------------------------------------------------

_VALUE = st.one_of(st.integers(0, 6).map(str), st.just("_"), st.just("stale"), st.just("1+1x2"))


@st.composite
def scenario(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    n_rec = draw(st.integers(1, 4))
    n_alert = draw(st.integers(1, 3))
    recs = [f"rec_{i}" for i in range(n_rec)]
    rules: list[dict[str, Any]] = []
    for name in recs:
        other = draw(st.sampled_from(recs))
        expr = draw(
            st.sampled_from(
                [
                    "sum by (i) (m_a)",
                    "rate(m_a[3m])",
                    "max_over_time(m_b[2m])",
                    f"{other} * 2",
                    f"{other} + on (i) m_b",
                    f"count_over_time({name}[4m]) or m_a",
                    "m_a > 2",
                    "count by (alertname) (ALERTS)",
                    "changes(m_b[5m]) offset 1m",
                    "absent(m_c)",
                ]
            )
        )
        rules.append({"record": name if draw(st.integers(0, 9)) else "m_b", "expr": expr})
    for i in range(n_alert):
        source = draw(st.sampled_from(["m_a", "m_b", *recs]))
        rule: dict[str, Any] = {
            "alert": f"Alert{i}",
            "expr": f"{source} > {draw(st.integers(0, 4))}",
            "labels": {"sev": draw(st.sampled_from(["page", "{{ $labels.i }}x"]))},
            "annotations": {"v": "{{ $value }} on {{ $labels.i }}"},
        }
        if draw(st.booleans()):
            rule["for"] = draw(st.sampled_from(["1m", "2m", "3m"]))
        if draw(st.booleans()):
            rule["keep_firing_for"] = draw(st.sampled_from(["1m", "2m"]))
        rules.append(rule)
    order = draw(st.permutations(rules))
    split = draw(st.integers(0, len(order)))
    groups: list[dict[str, Any]] = [
        {"name": "g1", "rules": list(order[:split])},
        {"name": "g2", "rules": list(order[split:])},
    ]
    if draw(st.booleans()):
        groups[1]["query_offset"] = "1m"
    if draw(st.integers(0, 5)) == 0:
        groups[0]["limit"] = 1
    groups = [g for g in groups if g["rules"]]
    steps = 12
    series = []
    for metric in ("m_a", "m_b"):
        for i in range(draw(st.integers(1, 2))):
            values = " ".join(draw(st.lists(_VALUE, min_size=3, max_size=steps)))
            series.append({"series": f'{metric}{{i="{i}"}}', "values": values})
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": draw(st.sampled_from(["1m", "30s"])),
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": f"{k}m", "alertname": f"Alert{i}"}
                    for k in range(steps)
                    for i in range(n_alert)
                ],
            }
        ],
    }
    return {"groups": groups}, tests


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=scenario())
def test_range_equals_steps_on_generated_rules(
    case: tuple[dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    rules, tests = case
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    path = tmp_path / "test.yml"
    path.write_text(yaml.safe_dump(tests))
    fast = Runner().evaluations(str(path))
    slow = Runner(RunOptions(mode=EvalMode.STEPS)).evaluations(str(path))
    for (tg, a, _), (_, b, _) in zip(fast, slow, strict=True):
        assert dump(a) == dump(b), tg.display_name
