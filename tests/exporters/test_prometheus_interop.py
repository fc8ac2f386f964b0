"""Real Prometheus (Debian's 2.42) scrapes the served exporters: ``up`` is 1 for every target."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
import yaml

from kubeprom.clock import RealClock
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.exporters.cluster import SimulatedCluster
from kubeprom.exporters.server import ExporterServer
from kubeprom.exporters.targets import ServedTarget
from tests.support.procs import free_port, require_binary

UP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
POLL_S = 0.25


def prometheus_config(targets: list[ServedTarget]) -> dict[str, object]:
    jobs: dict[tuple[str, str], list[str]] = {}
    for t in targets:
        jobs.setdefault((t.job, t.metrics_path), []).append(t.address)
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": path,
                "honor_timestamps": True,
                "static_configs": [{"targets": addresses}],
            }
            for (job, path), addresses in jobs.items()
        ],
    }


async def query(http: aiohttp.ClientSession, base: str, expr: str) -> list[dict[str, Any]]:
    async with http.get(f"{base}/api/v1/query", params={"query": expr}) as resp:
        payload = json.loads(await resp.text())
    assert payload["status"] == "success", payload
    result: list[dict[str, Any]] = payload["data"]["result"]
    return result


def _log_file(path: Path) -> IO[bytes]:
    return open(path, "wb")  # the caller closes it with `with`


@pytest.mark.slow
async def test_real_prometheus_scrapes_every_target(tmp_path: Path) -> None:
    binary = require_binary("prometheus")
    spec = load_cluster_config(None)
    assert spec is not None
    clock = RealClock()
    sim = SimulatedCluster(spec, start_s=clock.now_ms() / 1000)
    async with ExporterServer(sim, clock=clock) as server, aiohttp.ClientSession() as http:
        targets = server.targets()
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(prometheus_config(targets)))
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
            up: dict[str, float] = {}
            deadline = time.monotonic() + UP_TIMEOUT_S
            while time.monotonic() < deadline:
                assert proc.returncode is None, log.read_text()[-3000:]
                with contextlib.suppress(aiohttp.ClientError):
                    result = await query(http, base, "up")
                    up = {
                        f"{r['metric']['job']}/{r['metric']['instance']}": float(r["value"][1])
                        for r in result
                    }
                    if len(up) == len(targets) and all(v == 1.0 for v in up.values()):
                        break
                await asyncio.sleep(POLL_S)
            want = {f"{t.job}/{t.address}" for t in targets}
            assert set(up) == want, log.read_text()[-3000:]
            assert all(v == 1.0 for v in up.values()), (up, log.read_text()[-3000:])
            # The series arrived: kube-state-metrics' pods and the kubelet's timestamped samples.
            pods = await query(http, base, 'count(kube_pod_info{job="kube-state-metrics"})')
            assert float(pods[0]["value"][1]) == len(sim.pods())
            nodes = await query(http, base, 'count(node_cpu_usage_seconds_total{job="kubelet"})')
            assert float(nodes[0]["value"][1]) == len(spec.nodes)
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
