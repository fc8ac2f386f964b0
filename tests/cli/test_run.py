"""``kubeprom run`` as a user starts it: the simulated cluster is scraped and queryable."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.procs import free_port, running

# The default config scrapes every 10 s, each target at its own offset in the interval.
FIRST_SCRAPES_S = 30.0


def query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.load(r)
    assert body["status"] == "success"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def test_default_config_scrapes_the_simulated_cluster(tmp_path: Path) -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "kubeprom.cli.main",
        "run",
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(tmp_path / "data"),
    ]
    with running(argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "server.log") as proc:
        deadline = time.monotonic() + FIRST_SCRAPES_S
        jobs: dict[str, int] = {}
        while time.monotonic() < deadline:
            jobs = {}
            for r in query(port, "up == 1"):
                jobs[r["metric"]["job"]] = jobs.get(r["metric"]["job"], 0) + 1
            if jobs == {"cadvisor": 3, "kubelet": 3, "kube-state-metrics": 1}:
                break
            time.sleep(0.5)
        assert jobs == {"cadvisor": 3, "kubelet": 3, "kube-state-metrics": 1}
        nodes = query(port, "count by (node) (kube_node_info)")
        assert sorted(r["metric"]["node"] for r in nodes) == ["node-1", "node-2", "node-3"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as r:
            active = json.load(r)["data"]["activeTargets"]
        assert {(t["scrapePool"], t["health"]) for t in active} == {
            ("cadvisor", "up"),
            ("kubelet", "up"),
            ("kube-state-metrics", "up"),
        }
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert "prometheus_tsdb_head_samples_appended_total" in metrics
        assert 'prometheus_target_scrape_pool_targets{scrape_job="cadvisor"} 3.0' in metrics
        assert 'kubeprom_target_scrape_failures_total{scrape_job="kubelet"} 0.0' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert (tmp_path / "data" / "wal").is_dir()


def test_empty_config_serves_what_the_data_directory_holds(tmp_path: Path) -> None:
    src = tmp_path / "in.om.txt"
    src.write_text('up{job="old"} 1 1700000000\nup{job="old"} 1 1700000015\n# EOF\n')
    subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeprom.cli.main",
            "tsdb",
            "import",
            str(src),
            "--data",
            str(tmp_path / "data"),
            "--quiet",
        ],
        check=True,
        timeout=60,
    )
    cfg = tmp_path / "serve-only.yml"
    cfg.write_text("global: {}\nscrape_configs: []\n")
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "kubeprom.cli.main",
        "run",
        "--config",
        str(cfg),
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(tmp_path / "data"),
        "--retention-time",
        "100y",
    ]
    with running(argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "server.log"):
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": "up", "time": "1700000015"}
        )
        with urllib.request.urlopen(url, timeout=10) as r:
            result = json.load(r)["data"]["result"]
        assert result == [{"metric": {"__name__": "up", "job": "old"}, "value": [1700000015, "1"]}]


def test_run_rejects_a_bad_listen_address(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeprom.cli.main",
            "run",
            "--listen",
            "nowhere",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert out.stderr.strip() == "kubeprom: error: --listen: expected HOST:PORT, got 'nowhere'"


def test_sighup_reloads_the_scrape_configuration(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "kubeprom.yml"
    cfg.write_text("global: {scrape_interval: 1s}\nscrape_configs: []\n")
    argv = [
        sys.executable,
        "-m",
        "kubeprom.cli.main",
        "run",
        "--config",
        str(cfg),
        "--listen",
        f"127.0.0.1:{port}",
        "--data",
        str(tmp_path / "data"),
        "--log-level",
        "debug",
    ]
    with running(argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "server.log") as proc:
        cfg.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - {{job_name: self, static_configs: [{{targets: ['127.0.0.1:{port}']}}]}}\n"
        )
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + FIRST_SCRAPES_S
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not result:
            result = query(port, 'up{job="self"} == 1')
            time.sleep(0.2)
        assert [r["metric"]["instance"] for r in result] == [f"127.0.0.1:{port}"]
