"""``kubeprom top --server`` against a real Prometheus (Debian's 2.42) that scraped
kubeprom's exporters: the same tables from a server kubeprom did not write."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from pathlib import Path
from typing import IO

import pytest
import yaml

from kubeprom.cli.main import main
from kubeprom.clock import RealClock
from kubeprom.errors import QueryAPIUnavailable
from kubeprom.exporters import ExporterServer, ServedTarget, SimulatedCluster
from kubeprom.web.client import PrometheusClient
from tests.support.procs import free_port, require_binary
from tests.top.cluster import cluster_spec

DATA_TIMEOUT_S = 45.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.25


def prometheus_config(targets: list[ServedTarget]) -> dict[str, object]:
    """Static targets with the labels kubeprom's cluster discovery would give them: each
    kubelet endpoint labelled with its node, kube-state-metrics with honor_labels."""
    jobs: dict[tuple[str, str], list[dict[str, object]]] = {}
    for t in targets:
        labels = {"node": t.node} if t.node else {}
        jobs.setdefault((t.job, t.metrics_path), []).append(
            {"targets": [t.address], "labels": labels}
        )
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": path,
                "honor_labels": job == "kube-state-metrics",
                "static_configs": statics,
            }
            for (job, path), statics in jobs.items()
        ],
    }


def _seconds(go_duration: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", go_duration)
    assert m is not None, go_duration
    return float(m[1]) / (1000 if m[2] == "ms" else 1)


def _log_file(path: Path) -> IO[bytes]:
    return open(path, "wb")  # the caller closes it with `with`


def _ready(api: PrometheusClient, nodes: int, pods: int) -> bool:
    """Two kubelet scrapes of every node and pod (irate has its two samples), and
    kube-state-metrics scraped."""
    now = round(time.time() * 1000)
    try:
        rates = api.instant('count(irate(node_cpu_usage_seconds_total{job="kubelet"}[5m]))', now)
        per_pod = 'count by (namespace, pod) (container_memory_working_set_bytes{job="kubelet"})'
        containers = api.instant(f"count({per_pod})", now)
        ksm = api.instant('count(kube_node_status_allocatable{resource="cpu"})', now)
    except QueryAPIUnavailable:
        return False
    counts = [r.v.tolist() for r in (rates, containers, ksm)]
    return counts == [[nodes], [pods], [nodes]]


async def _top(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, ["top", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
async def test_top_against_real_prometheus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    binary = require_binary("prometheus")
    clock = RealClock()
    sim = SimulatedCluster(cluster_spec(), start_s=clock.now_ms() / 1000)
    async with ExporterServer(sim, clock=clock) as exporters:
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(exporters.targets())))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "prometheus.log"
        with _log_file(log) as out:
            proc = await asyncio.create_subprocess_exec(
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                stdout=out,
                stderr=out,
            )
        try:
            api = PrometheusClient(base, timeout_s=5)
            deadline = time.monotonic() + DATA_TIMEOUT_S
            while not await asyncio.to_thread(_ready, api, 2, len(sim.pods())):
                assert proc.returncode is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                await asyncio.sleep(POLL_S)

            code, out_text, err = await _top(capsys, "node", "--server", base)
            assert (code, err) == (0, "")
            lines = out_text.splitlines()
            assert lines[0] == "NAME     CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)   "
            # Memory is a gauge: exact. CPU is a rate over ~1s of wall-clock scrapes whose
            # timestamps Prometheus keeps to the millisecond: within a few millicores.
            row = re.compile(r"(node-[ab]) +(\d+)m +(\d+)% +(\d+)Mi +(\d+)% +")
            rows = {m[1]: m for m in map(row.fullmatch, lines[1:]) if m is not None}
            assert sorted(rows) == ["node-a", "node-b"], out_text
            for name, milli, mib, mem_pct, alloc_milli in (
                ("node-a", 378, 1013, 14, 3800),
                ("node-b", 328, 757, 24, 1900),
            ):
                m = rows[name]
                assert abs(int(m[2]) - milli) <= 3, out_text
                assert int(m[3]) == int(int(m[2]) / alloc_milli * 100), out_text
                assert (int(m[4]), int(m[5])) == (mib, mem_pct), out_text

            code, out_text, err = await _top(
                capsys, "pod", "-A", "--containers", "--server", base, "-o", "json"
            )
            assert (code, err) == (0, "")
            doc = json.loads(out_text)
            containers = {
                (i["metadata"]["namespace"], c["name"]): c["usage"]["memory"]
                for i in doc["items"]
                for c in i["containers"]
            }
            assert containers == {
                ("batch", "worker"): "206336Ki",
                ("default", "api"): "60Mi",
                ("default", "nginx"): "120Mi",
                ("default", "sidecar"): "120Mi",
            }
            assert len(doc["items"]) == len(sim.pods())
            # The window is the span between the two newest scrapes: about scrape_interval
            # (Go's duration text: "1s", "1.002s", "998ms").
            windows = [i["window"] for i in doc["items"]]
            assert all(0.5 <= _seconds(w) <= 2.5 for w in windows), windows
        finally:
            if proc.returncode is None:
                proc.terminate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
