"""The documented scale-out topology: N kubeproms split the targets with ``hashmod`` and
remote-write to one VictoriaMetrics; queries there answer as one kubeprom scraping all.

Two shards and one unsharded kubeprom scrape the same simulated cluster (``kubeprom
exporter``). The set of series and targets must be identical, and ``kubeprom top`` against
VictoriaMetrics must list the same nodes and pods with the same usage. The shards and the
single kubeprom scrape at nearby but not identical instants, so the cluster's load is steady
(constant, no noise, no leak): usage then does not depend on when a scrape lands, and the
only difference left is the model's one-second tick inside a rate window, hence a tolerance
of one unit or 3 %.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom.config.relabeling import hashmod
from tests.remote.peers import (
    get_json,
    metric_value,
    serving,
    start_kubeprom,
    start_vm,
    vm_flush,
    wait_until,
)
from tests.support.procs import free_port, wait_http

pytestmark = pytest.mark.slow

SHARDS = 2
INTERVAL = "2s"


def exporter_port() -> int:
    """A base port whose 4 target addresses land on both shards."""
    for _ in range(50):
        base = free_port()
        shards = {hashmod(f"127.0.0.1:{base + k}", SHARDS) for k in range(4)}
        if shards == set(range(SHARDS)):
            return base
    raise AssertionError("no port split the targets over both shards")


STEADY_CLUSTER = """
cluster:
  seed: 7
  nodes:
    - {count: 3, name_prefix: node-, capacity: {cpu: "4", memory: 16Gi, pods: 110}}
  deployments:
"""
for _name, _ns, _replicas, _rps in (
    ("web", "default", 3, 60),
    ("api", "default", 2, 40),
    ("worker", "batch", 2, 10),
):
    STEADY_CLUSTER += f"""
    - metadata: {{name: {_name}, namespace: {_ns}, labels: {{app: {_name}}}}}
      spec:
        replicas: {_replicas}
        template:
          metadata: {{labels: {{app: {_name}}}}}
          spec:
            containers:
              - name: {_name}
                image: example/{_name}:1
                resources:
                  requests: {{cpu: 200m, memory: 128Mi}}
                  limits: {{cpu: "1", memory: 512Mi}}
      load: {{type: constant, rps: {_rps}, cpu_per_request: 4m, baseline_cpu: 10m,
              memory_per_rps: 1Mi, baseline_memory: 64Mi}}
"""


def config(base: int, shard: int | None, write_url: str | None) -> str:
    """The embedded config's jobs over static targets; ``shard`` keeps 1/N of them."""
    keep = (
        ""
        if shard is None
        else f"""
      - {{source_labels: [__address__], modulus: {SHARDS},
         target_label: __tmp_hash, action: hashmod}}
      - {{source_labels: [__tmp_hash], regex: "{shard}", action: keep}}"""
    )
    nodes = "\n".join(
        f'      - {{targets: ["127.0.0.1:{base + k}"], labels: {{node: node-{k}}}}}'
        for k in (1, 2, 3)
    )
    remote = (
        f"remote_write:\n  - url: {write_url}\n    queue_config: {{batch_send_deadline: 1s}}\n"
        if write_url
        else ""
    )
    return f"""
global: {{scrape_interval: {INTERVAL}, scrape_timeout: 1s}}
scrape_configs:
  - job_name: cadvisor
    metrics_path: /metrics/cadvisor
    static_configs:
{nodes}
    relabel_configs:{keep or " []"}
  - job_name: kubelet
    metrics_path: /metrics/resource
    static_configs:
{nodes}
    relabel_configs:{keep or " []"}
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs: [{{targets: ["127.0.0.1:{base}"]}}]
    relabel_configs:{keep or " []"}
{remote}"""


def top(server: str, at: float, *args: str) -> list[list[str]]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kubeprom.cli.main",
            "top",
            *args,
            "--server",
            server,
            "--time",
            f"{at:.3f}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [line.split() for line in out.splitlines()]


def close(a: list[list[str]], b: list[list[str]]) -> bool:
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        if len(row_a) != len(row_b):
            return False
        for x, y in zip(row_a, row_b, strict=True):
            nx, ny = re.fullmatch(r"(\d+)(\D*)", x), re.fullmatch(r"(\d+)(\D*)", y)
            if nx and ny and nx.group(2) == ny.group(2):
                vx, vy = int(nx.group(1)), int(ny.group(1))
                if abs(vx - vy) > max(1, 0.03 * max(vx, vy)):
                    return False
            elif x != y:
                return False
    return True


def series_by_name(server: str, at: float) -> dict[str, str]:
    doc = get_json(
        server + "/api/v1/query",
        {"query": 'count by (__name__, job) ({__name__=~".+"})', "time": f"{at:.3f}"},
    )
    return {
        f"{r['metric'].get('__name__')}/{r['metric'].get('job')}": r["value"][1]
        for r in doc["data"]["result"]  # type: ignore[index]
    }


def test_hashmod_shards_into_victoria_metrics_answer_like_one_kubeprom(tmp_path: Path) -> None:
    base = exporter_port()
    log = tmp_path / "exporter.log"
    cluster = tmp_path / "cluster.yml"
    cluster.write_text(STEADY_CLUSTER)
    with open(log, "wb") as out:
        exporter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeprom.cli.main",
                "exporter",
                "--config",
                str(cluster),
                "--base-port",
                str(base),
            ],
            stdout=out,
            stderr=out,
        )
    try:
        wait_http(f"http://127.0.0.1:{base}/metrics", exporter, log)
        with serving(start_vm(tmp_path / "vm", tmp_path / "vm.log")) as vm:
            servers = []
            for name, shard, url in (
                ("shard0", 0, vm.url + "/api/v1/write"),
                ("shard1", 1, vm.url + "/api/v1/write"),
                ("single", None, None),
            ):
                (tmp_path / f"{name}.yml").write_text(config(base, shard, url))
                servers.append(
                    start_kubeprom(
                        tmp_path / f"{name}.yml", tmp_path / name, tmp_path / f"{name}.log"
                    )
                )
            shard0, shard1, single = servers
            try:

                def scraped(server: str) -> int:
                    doc = get_json(
                        server + "/api/v1/query", {"query": "count(count_over_time(up[1m]) >= 6)"}
                    )
                    result = doc["data"]["result"]  # type: ignore[index]
                    return int(result[0]["value"][1]) if result else 0

                wait_until(lambda: scraped(single.url) == 7, 90, "six scrapes of every target")
                targets = [
                    len(get_json(s.url + "/api/v1/targets")["data"]["activeTargets"])  # type: ignore[index]
                    for s in (shard0, shard1)
                ]
                assert sorted(targets) != [0, 7]
                assert sum(targets) == 7
                newest = get_json(single.url + "/api/v1/query", {"query": "max(timestamp(up))"})
                at = float(newest["data"]["result"][0]["value"][1]) - 3  # type: ignore[index]

                def sent_past(base: str) -> bool:
                    # The shards keep scraping, so "sent everything" is a moving target; what
                    # the comparison needs is everything up to a scrape after ``at``.
                    sent = metric_value(
                        base, "prometheus_remote_storage_queue_highest_sent_timestamp_seconds"
                    )
                    return sent >= at + 2 * float(INTERVAL.rstrip("s"))

                wait_until(
                    lambda: sent_past(shard0.url) and sent_past(shard1.url),
                    90,
                    "the shards to send past the compared instant",
                )
                vm_flush(vm.url)

                def agree() -> bool:
                    vm_flush(vm.url)
                    return series_by_name(vm.url, at) == series_by_name(single.url, at)

                wait_until(agree, 30, "VictoriaMetrics to hold the same series")
                assert len(series_by_name(single.url, at)) > 30
                for args in (("node",), ("pod", "-A"), ("pod", "-A", "--containers")):
                    via_vm = top(vm.url, at, *args)
                    direct = top(single.url, at, *args)
                    assert len(direct) > 3
                    assert [r[:2] if args[0] == "pod" else r[:1] for r in via_vm] == [
                        r[:2] if args[0] == "pod" else r[:1] for r in direct
                    ]
                    assert close(via_vm, direct), (via_vm, direct)
            finally:
                for s in servers:
                    s.stop()
    finally:
        exporter.terminate()
        exporter.wait(timeout=30)
