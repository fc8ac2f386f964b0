"""One hour of cluster time through exporters, scraper and store, in virtual time."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from kubeprom.clock import VirtualClock
from kubeprom.config import load_main_config
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.exporters import SimulatedCluster
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.tsdb import DB, Options

START_S = 1_800_000_000.0
HOUR_S = 3600
INTERVAL_S = 10  # the embedded config's scrape_interval


async def test_one_hour_of_the_default_cluster_in_virtual_time(tmp_path: Path) -> None:
    spec = load_cluster_config(None)
    assert spec is not None
    clock = VirtualClock(round(START_S * 1000))
    fetch = InProcessFetch(SimulatedCluster(spec, start_s=START_S), clock)
    db = DB.open(tmp_path, Options(retention_ms=None))
    service = ScrapeService(db.appender, clock, fetch, cluster=fetch.discover)
    service.apply(load_main_config(None))
    wall = time.monotonic()
    service.start()
    try:
        await clock.advance_ms(HOUR_S * 1000)
    finally:
        await service.stop()
    assert time.monotonic() - wall < 120  # an hour of cluster time, without sleeping
    api = LocalQueryAPI(db.querier)
    end_ms = int((START_S + HOUR_S) * 1000)
    ups = api.instant(f"count_over_time(up[{HOUR_S}s])", end_ms)
    per_target = {str(lab): v for lab, _, v in ups.series()}
    assert len(per_target) == 7  # 3 cadvisor + 3 kubelet + 1 kube-state-metrics
    assert {float(v[0]) for v in per_target.values()} == {HOUR_S / INTERVAL_S}
    assert api.instant("min_over_time(up[1h])", end_ms).v.tolist() == [1.0] * 7
    # The constant-load Deployment "api": 40 rps over 2 ready pods, 15m baseline + 5m per
    # request/s each: 2 * (0.015 + 0.005 * 20) = 0.23 cores, give or take 3 % noise.
    cpu = api.instant(
        'sum(rate(container_cpu_usage_seconds_total{job="cadvisor", namespace="default",'
        ' pod=~"api-.*",'
        ' container="api"}[5m]))',
        end_ms,
    )
    assert abs(cpu.scalar - 0.23) < 0.23 * 0.05
    pods = api.instant('count(kube_pod_status_phase{phase="Running"} == 1)', end_ms)
    assert pods.scalar >= 9
    mem = api.instant('max(container_memory_working_set_bytes{container!=""})', end_ms)
    assert np.isfinite(mem.scalar)
    db.close()
