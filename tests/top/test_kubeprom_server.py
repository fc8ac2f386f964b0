"""``kubeprom top`` against ``kubeprom run`` (its default ``--server``): the HTTP query API,
its scrapes of the simulated cluster's exporters, and top's PromQL, end to end."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from kubeprom.cli.main import main
from kubeprom.errors import QueryAPIUnavailable
from kubeprom.web.client import PrometheusClient
from tests.support.procs import free_port
from tests.top.cluster import CLUSTER_YAML

READY_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.2

SCRAPE_CONFIG = """
global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: cadvisor
    metrics_path: /metrics/cadvisor
    cluster_sd_configs: [{role: node}]
    relabel_configs:
      - {action: labelmap, regex: __meta_kubernetes_node_label_(.+)}
      - {source_labels: [__meta_kubernetes_node_name], target_label: node}
  - job_name: kubelet
    metrics_path: /metrics/resource
    cluster_sd_configs: [{role: node}]
    relabel_configs:
      - {action: labelmap, regex: __meta_kubernetes_node_label_(.+)}
      - {source_labels: [__meta_kubernetes_node_name], target_label: node}
  - job_name: kube-state-metrics
    honor_labels: true
    cluster_sd_configs: [{role: kube-state-metrics}]
"""


def _log_file(path: Path) -> IO[bytes]:
    return open(path, "wb")  # the caller closes it with `with`


def _has_rates(api: PrometheusClient) -> bool:
    expr = 'count(irate(node_cpu_usage_seconds_total{job="kubelet"}[5m]))'
    try:
        counts: list[float] = api.instant(expr, round(time.time() * 1000)).v.tolist()
    except QueryAPIUnavailable:
        return False
    return counts == [2.0]


@pytest.mark.slow
async def test_top_against_kubeprom_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kubeprom.yml"
    config.write_text(SCRAPE_CONFIG + CLUSTER_YAML)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "run.log"
    argv = ["run", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    with _log_file(log) as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "kubeprom.cli.main",
            *argv,
            "--data",
            str(tmp_path / "data"),
            stdout=out,
            stderr=out,
        )
    try:
        api = PrometheusClient(base, timeout_s=5)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not await asyncio.to_thread(_has_rates, api):
            assert proc.returncode is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(POLL_S)
        code = await asyncio.to_thread(main, ["top", "node", "--server", base])
        out_text, err = capsys.readouterr()
        assert (code, err) == (0, "")
        lines = out_text.splitlines()
        assert lines[0] == "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   "
        row = re.compile(r"(node-[ab]) +(\d+)m +(\d+)% +(\d+)Mi +(\d+)% +")
        rows = {m[1]: m for m in map(row.fullmatch, lines[1:]) if m is not None}
        assert sorted(rows) == ["node-a", "node-b"], out_text
        for name, milli, mib, mem_pct in (("node-a", 378, 1013, 14), ("node-b", 328, 757, 24)):
            assert abs(int(rows[name][2]) - milli) <= 3, out_text
            assert (int(rows[name][4]), int(rows[name][5])) == (mib, mem_pct), out_text
        # The zone label reaches the kubelet series through the labelmap relabelling.
        code = await asyncio.to_thread(
            main, ["top", "node", "-l", "topology.kubernetes.io/zone=a", "--server", base]
        )
        out_text, err = capsys.readouterr()
        assert (code, err) == (0, "")
        assert [line.split()[0] for line in out_text.splitlines()] == ["NAME", "node-a"]
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
