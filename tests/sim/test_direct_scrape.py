"""The simulation's fast path (``scrape: direct``: samples from the exporters' families, no
exposition text) leaves exactly the store the faithful path (``scrape: text``) leaves: the
same series, timestamps, value bits (staleness markers included) and metadata, and the same
output files."""

from __future__ import annotations

from collections.abc import Container
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kubeprom.cli.simulate_cmd import fresh_data_dir, simulate
from kubeprom.errors import ConfigError
from kubeprom.exporters.columns import Columns
from kubeprom.model import Matcher, MatchType
from kubeprom.model.samples import STALE_NAN
from kubeprom.scraper.exposition.parser import ParsedBody
from kubeprom.sim import inprocess
from kubeprom.sim.inprocess import parsed_columns
from kubeprom.sim.scenario import ScrapeMode, load_scenario
from kubeprom.tsdb import DB, MAX_TIME, MIN_TIME, Options
from kubeprom.tsdb.wal import MultiSamplesRecord, SamplesRecord, read_only_replay

# Two Deployments (one scaled up and down again: pods come and go), CPU limits that throttle,
# a memory leak that ends in OOM kills (restarts, new container ids, series that go stale),
# rules with alerts.
SCENARIO = """\
global: {scrape_interval: 10s, evaluation_interval: 10s}
rule_files: [RULES]
cluster:
  seed: 9
  nodes: [{count: 2, capacity: {cpu: "4", memory: 8Gi}}]
  deployments:
    - metadata: {name: web, labels: {app: web}}
      spec:
        replicas: 2
        template:
          spec:
            containers:
              - name: app
                image: nginx
                resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: 300m}}
                readinessProbe: {initialDelaySeconds: 5}
      load: {type: spike, base_rps: 20, at: 3m, duration: 4m, factor: 10, cpu_per_request: 5m,
             noise: 0.1}
    - metadata: {name: leaky, labels: {app: leaky}}
      spec:
        replicas: 1
        template:
          spec:
            containers:
              - name: app
                image: busybox
                resources: {requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 40Mi}}
      load: {type: constant, rps: 1, baseline_memory: 30Mi, memory_leak_per_hour: 120Mi}
horizontal_pod_autoscalers:
  - apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata: {name: web}
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
      maxReplicas: 12
      behavior: {scaleDown: {stabilizationWindowSeconds: 30}}
      metrics:
        - type: Resource
          resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
simulation:
  duration: 12m
  scrape: MODE
"""
RULES = """\
groups:
  - name: test
    rules:
      - record: deployment:cpu:rate1m
        expr: sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{job="cadvisor"}[1m]))
      - alert: Throttled
        expr: sum(rate(container_cpu_cfs_throttled_periods_total[1m])) > 0
      - alert: Restarted
        expr: increase(kube_pod_container_status_restarts_total[5m]) > 0
        for: 30s
"""
STALE_BITS = int(np.array([STALE_NAN]).view(np.uint64)[0])
OUTPUTS = ("timeline.csv", "events.csv", "decisions.jsonl", "summary.json", "default-web.png")


async def run(tmp_path: Path, mode: ScrapeMode) -> Path:
    where = tmp_path / mode.value  # the same file name: summary.json names it
    where.mkdir()
    # One rules file for both: a rule group's evaluation offset hashes its file's path.
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    path = where / "scenario.yaml"
    path.write_text(SCENARIO.replace("MODE", mode.value).replace("RULES", str(rules)))
    scenario = load_scenario(str(path))
    assert scenario.simulation.scrape is mode
    out = where / "out"
    fresh_data_dir(out)
    await simulate(scenario, out, progress=False)
    return out


def dump(data: Path) -> tuple[list[str], list[int], list[int], list[int], dict[str, object]]:
    db = DB.open(data, Options(retention_ms=None))
    try:
        q = db.querier()
        got = q.select([Matcher(MatchType.REGEX, "__name__", ".+")], MIN_TIME, MAX_TIME)
        return (
            [str(labels) for labels in got.labels],
            got.t.tolist(),
            got.v.view(np.uint64).tolist(),
            got.offsets.tolist(),
            {name: sorted(map(repr, metas)) for name, metas in q.metadata().items()},
        )
    finally:
        db.close()


async def test_direct_scrapes_leave_the_store_text_scrapes_leave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = await run(tmp_path, ScrapeMode.TEXT)
    known: list[bool] = []  # per direct scrape: whether the loop mapped its series again

    def counted(columns: Columns, seen: Container[bytes] | None, **kw: Any) -> ParsedBody:
        known.append(seen is not None)
        return parsed_columns(columns, seen, **kw)

    monkeypatch.setattr(inprocess, "parsed_columns", counted)
    direct = await run(tmp_path, ScrapeMode.DIRECT)
    # Most scrapes had their target's last series (mapped once, then reused); pods coming and
    # going, restarts and HPAs changed some.
    assert 0 < sum(known) < len(known) // 4
    # Both runs logged their commits to the WAL in groups (virtual time), not one by one.
    for out in (text, direct):
        records = list(read_only_replay(out / "data" / "wal"))
        assert not [r for r in records if isinstance(r, SamplesRecord)]
        assert [r for r in records if isinstance(r, MultiSamplesRecord)]
    t_labels, t_t, t_v, t_off, t_meta = dump(text / "data")
    d_labels, d_t, d_v, d_off, d_meta = dump(direct / "data")
    # The run did what it should exercise: restarts, scaling, staleness, alerts, throttling.
    names = {s.split("{")[0] for s in t_labels}
    assert {"ALERTS", "deployment:cpu:rate1m", "container_cpu_cfs_throttled_periods_total"} <= names
    assert any('alertname="Restarted"' in s for s in t_labels)
    assert len(t_labels) > 300
    # Pods went away: their series end in a staleness marker.
    ends = [t_v[end - 1] for end in t_off[1:]]
    gone = [
        s
        for s, last in zip(t_labels, ends, strict=True)
        if s.startswith("kube_pod_created{") and last == STALE_BITS
    ]
    assert gone, "a pod was removed while scraped"
    assert t_labels == d_labels
    assert t_off == d_off
    assert t_t == d_t
    assert t_v == d_v
    assert t_meta == d_meta
    for name in OUTPUTS:
        assert (text / name).read_bytes() == (direct / name).read_bytes(), name


def test_scrape_mode_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.replace("MODE", "json"))
    with pytest.raises(
        ConfigError, match=r"s\.yaml:42:11: simulation\.scrape: expected direct or text, got 'json'"
    ):
        load_scenario(str(path))
