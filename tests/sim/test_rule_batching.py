"""A simulation's rule groups evaluated in chunks of their evaluation times
(:mod:`kubeprom.rules.batching`) leave exactly the store and the files that evaluating them
at each instant leaves: every series, timestamp and value bit (staleness markers included),
``ALERTS`` and ``ALERTS_FOR_STATE``, and the alert rows of ``events.csv``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubeprom.cli.simulate_cmd import fresh_data_dir, simulate
from kubeprom.hpa.metrics_resource import STORE_READS
from kubeprom.model.labels import Labels
from kubeprom.rules.alerting import AlertingRule
from kubeprom.rules.batching import Batching, why_step_by_step
from kubeprom.rules.recording import RecordingRule
from kubeprom.rules.rule import Rule
from kubeprom.sim.scenario import load_scenario
from tests.sim.test_direct_scrape import OUTPUTS, SCENARIO, STALE_BITS, dump

# Chained recording rules (the second and the alerts read the first), a per-pod series that
# goes stale when the HPA scales down, `for` and `keep_firing_for`, and an alert that flaps.
RULES = """\
groups:
  - name: chained
    rules:
      - record: pod:cpu:rate1m
        expr: sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{job="cadvisor"}[1m]))
      - record: namespace:cpu:sum
        expr: sum by (namespace) (pod:cpu:rate1m)
      - alert: PodBusy
        expr: pod:cpu:rate1m > 0.05
        for: 40s
        keep_firing_for: 30s
        labels: {severity: info}
        annotations: {summary: "{{ $labels.pod }} at {{ $value }}"}
      - alert: NamespaceBusy
        expr: namespace:cpu:sum > 0.3
        keep_firing_for: 1m
      - alert: Restarted
        expr: increase(kube_pod_container_status_restarts_total[5m]) > 0
        for: 30s
  - name: second
    interval: 20s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Throttled
        expr: sum(rate(container_cpu_cfs_throttled_periods_total[1m])) > 0
        for: 20s
"""


async def run(tmp_path: Path, steps: int) -> Path:
    where = tmp_path / f"steps{steps}"
    where.mkdir()
    rules = tmp_path / "rules.yml"  # one file: a group's offset hashes its file's path
    rules.write_text(RULES)
    path = where / "scenario.yaml"
    path.write_text(SCENARIO.replace("MODE", "direct").replace("RULES", str(rules)))
    out = where / "out"
    fresh_data_dir(out)
    await simulate(load_scenario(str(path)), out, progress=False, rule_batch_steps=steps)
    return out


async def test_chunked_rule_groups_leave_the_store_step_by_step_leaves(tmp_path: Path) -> None:
    step = await run(tmp_path, 1)
    s_labels, s_t, s_v, s_off, s_meta = dump(step / "data")
    names = {s.split("{")[0] for s in s_labels}
    assert {"ALERTS", "ALERTS_FOR_STATE", "pod:cpu:rate1m", "namespace:cpu:sum"} <= names
    for alert in ("PodBusy", "NamespaceBusy", "Restarted", "Throttled"):
        assert any(f'alertname="{alert}"' in s for s in s_labels), alert
    ends = {s: s_v[end - 1] for s, end in zip(s_labels, s_off[1:], strict=True)}
    assert any(s.startswith("pod:cpu:rate1m{") and v == STALE_BITS for s, v in ends.items())
    assert any(s.startswith("ALERTS{") and v == STALE_BITS for s, v in ends.items())
    events = (step / "events.csv").read_text()
    assert "AlertFiring" in events
    assert "AlertResolved" in events
    for steps in (7, 40):
        chunked = await run(tmp_path, steps)
        c_labels, c_t, c_v, c_off, c_meta = dump(chunked / "data")
        assert c_labels == s_labels, steps
        assert c_off == s_off, steps
        assert c_t == s_t, steps
        assert c_v == s_v, steps
        assert c_meta == s_meta, steps
        for name in OUTPUTS:
            assert (chunked / name).read_bytes() == (step / name).read_bytes(), (steps, name)


def rec(name: str, expr: str) -> RecordingRule:
    return RecordingRule(name, expr, Labels([]))


def alert(name: str, expr: str, annotation: str = "") -> AlertingRule:
    annotations = Labels([("summary", annotation)] if annotation else [])
    return AlertingRule(name, expr, labels=Labels([]), annotations=annotations, external_labels={})


OUTSIDE = Batching(outside=STORE_READS)


@pytest.mark.parametrize(
    ("rules", "others", "batching", "why"),
    [
        ([rec("a:x", "sum(up)"), rec("b:x", "a:x * 2")], [], OUTSIDE, ""),
        ([rec("a:x", "sum(up)"), alert("A", "a:x > 1", "{{ $value }}")], [], OUTSIDE, ""),
        ([rec("a:x", "sum(up)")], [], Batching(outside=None), "is not known"),
        ([rec("a:x", "sum(up)")], [], Batching(steps=1, outside=STORE_READS), "chunks of one"),
        ([rec("up", "vector(1)")], [], OUTSIDE, "writes a metric read outside"),
        ([rec("b:x", "a:x * 2"), rec("a:x", "sum(up)")], [], OUTSIDE, "reads what rule 'a:x'"),
        ([rec("a:x", "a:x offset 1m")], [], OUTSIDE, "reads what rule 'a:x'"),
        ([alert("A", "ALERTS > 0")], [], OUTSIDE, "reads what rule 'A'"),
        ([rec("a:x", "sum(up @ 100)")], [], OUTSIDE, "outside \\(.., t\\]"),
        ([rec("a:x", "sum(up offset -1m)")], [], OUTSIDE, "outside \\(.., t\\]"),
        ([rec("a:x", "sum(up)")], [[rec("b:x", "a:x")]], OUTSIDE, "of another group reads"),
        ([rec("b:x", "a:x")], [[rec("a:x", "sum(up)")]], OUTSIDE, "of another group$"),
        ([alert("A", "up == 0", '{{ query "up" }}')], [], OUTSIDE, "queries from a template"),
    ],
)
def test_which_groups_are_batched(
    rules: list[Rule], others: list[list[Rule]], batching: Batching, why: str
) -> None:
    got = why_step_by_step(rules, others, batching)
    if why:
        assert re.search(why, got), got
    else:
        assert got == ""
