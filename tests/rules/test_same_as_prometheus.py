"""Same answers as Prometheus: Debian's Prometheus 2.42 and ``kubeprom run`` scrape the same
simulated exporters and evaluate the kubernetes-mixin rules of ../shared/conformance/rules;
their recorded series and ALERTS series must agree.

2.x-vs-3.x window differences: none shows in this comparison (the recorded series compared
by value are sums of kube-state-metrics requests and limits, which do not depend on windows,
and the alerts present are absent() alerts, pending on both)."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeprom.clock import RealClock
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.server import ExporterServer
from tests.support.procs import free_port, require_binary, running
from tests.support.shared import shared_path

pytestmark = pytest.mark.slow

RUN_S = 45.0  # both servers evaluate every 2 s for this long


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=30) as r:
        result: list[dict[str, Any]] = json.loads(r.read())["data"]["result"]
    return result


def series(base: str, expr: str) -> dict[str, float]:
    return {
        json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in query(base, expr)
    }


def collect(prom: str, kubeprom: str) -> tuple[Any, Any, Any, Any, Any]:
    names = 'count by (__name__) ({__name__=~".+:.+"})'
    recorded = {b: series(b, names) for b in (prom, kubeprom)}
    shapes = {
        b: {k: sorted(series(b, json.loads(k)["__name__"])) for k in recorded[b]}
        for b in (prom, kubeprom)
    }
    static = "namespace_cpu:kube_pod_container_resource_requests:sum"
    values = {b: series(b, static) for b in (prom, kubeprom)}
    alerts = {b: sorted(series(b, "ALERTS")) for b in (prom, kubeprom)}
    with urllib.request.urlopen(f"{kubeprom}/api/v1/rules", timeout=10) as r:
        rules = json.loads(r.read())["data"]["groups"]
    return recorded, shapes, values, alerts, rules


def _every_group_at_eval_interval(source: Path, tmp_path: Path) -> str:
    """A copy of a rule file whose groups use the global evaluation interval.

    Groups with their own long interval (``3m``) start at an offset from a hash of the
    group's name and file, which 2.x and 3.x compute from different label encodings: within
    the test's run one server may have evaluated such a group and the other not.
    """
    doc = yaml.safe_load(source.read_text())
    for group in doc["groups"]:
        group.pop("interval", None)
    out = tmp_path / source.name
    out.write_text(yaml.safe_dump(doc))
    return str(out)


async def test_recorded_series_and_alerts_match_prometheus(tmp_path: Path) -> None:
    prometheus = require_binary("prometheus")
    mixin = shared_path("conformance", "rules", "kubernetes-mixin")
    spec = load_cluster_config(None)
    assert spec is not None
    clock = RealClock()
    async with ExporterServer(
        SimulatedCluster(spec, start_s=clock.now_ms() / 1000), clock=clock
    ) as server:
        jobs: dict[tuple[str, str], list[str]] = {}
        for t in server.targets():
            jobs.setdefault((t.job, t.metrics_path), []).append(t.address)
        config = {
            "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
            "rule_files": [
                _every_group_at_eval_interval(mixin / name, tmp_path)
                for name in ("prometheus_rules.yaml", "prometheus_alerts.yaml")
            ],
            "scrape_configs": [
                {
                    "job_name": job,
                    "metrics_path": path,
                    "honor_labels": job == "kube-state-metrics",
                    "static_configs": [{"targets": addrs}],
                }
                for (job, path), addrs in jobs.items()
            ],
        }
        (tmp_path / "config.yml").write_text(yaml.safe_dump(config))
        pp, kp = free_port(), free_port()
        prom, kubeprom = f"http://127.0.0.1:{pp}", f"http://127.0.0.1:{kp}"
        prom_argv = [
            prometheus, f"--config.file={tmp_path / 'config.yml'}",
            f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{pp}",
        ]  # fmt: skip
        kp_argv = [
            sys.executable, "-m", "kubeprom.cli.main", "run", "--config",
            str(tmp_path / "config.yml"), "--data", str(tmp_path / "kp"),
            "--listen", f"127.0.0.1:{kp}",
        ]  # fmt: skip
        with (
            running(prom_argv, f"{prom}/-/ready", tmp_path / "prom.log"),
            running(kp_argv, f"{kubeprom}/-/ready", tmp_path / "kp.log"),
        ):
            # Both servers run on their own clocks; the exporters are served by this event
            # loop, so wait and read without blocking it.
            await asyncio.sleep(RUN_S)
            recorded, shapes, values, alerts, rules = await asyncio.to_thread(
                collect, prom, kubeprom
            )
    assert len(recorded[prom]) >= 12
    assert recorded[kubeprom] == recorded[prom]
    assert shapes[kubeprom] == shapes[prom]
    assert values[kubeprom] == values[prom]
    assert len(values[prom]) >= 3
    assert alerts[kubeprom] == alerts[prom]
    unhealthy = [
        (r["name"], r["health"], r.get("lastError"))
        for g in rules
        for r in g["rules"]
        if r["health"] != "ok"
    ]
    assert unhealthy == []
