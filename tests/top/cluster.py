"""A small simulated cluster with constant, known load, scraped for five minutes of virtual
time into a data directory (the real exporters -> scraper -> store path).

The load model (``kubeprom.exporters.state``): every container of a pod does its
Deployment's work for each request the pod serves, and a Deployment's requests are spread
evenly over its ready pods. So, per container, with ``share = rps / replicas``:

    cpu    = baseline_cpu + cpu_per_request * share        (cores)
    memory = baseline_memory + memory_per_rps * share      (bytes)

and a node uses its ``overhead`` plus the sum of its containers. Each Deployment has two
replicas on two nodes, and the scheduler spreads replicas first, so every node runs one pod
of each Deployment whatever the tie-breaks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from kubeprom.clock import VirtualClock
from kubeprom.config import load_main_config
from kubeprom.config.cluster import ClusterSpec
from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.config.load import MainConfig, parse_main_config
from kubeprom.exporters import SimulatedCluster
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.tsdb import DB, Options

START_S = 1_800_000_000.0
RUN_S = 300  # five minutes: 30 scrapes of every target at the embedded 10s interval
END_MS = int((START_S + RUN_S) * 1000)

CLUSTER_YAML = """
cluster:
  seed: 7
  nodes:
    - name: node-a
      capacity: {cpu: "4", memory: 8Gi, pods: 110}
      allocatable: {cpu: 3800m, memory: 7Gi, pods: 110}
      overhead: {cpu: 100m, memory: 512Mi}
      labels: {topology.kubernetes.io/zone: a}
    - name: node-b
      capacity: {cpu: "2", memory: 4Gi, pods: 110}
      allocatable: {cpu: 1900m, memory: 3Gi, pods: 110}
      overhead: {cpu: 50m, memory: 256Mi}
      labels: {topology.kubernetes.io/zone: b}
  deployments:
    # share 40/2 = 20 rps: each container 20m + 5m*20 = 120m, 100Mi + 1Mi*20 = 120Mi
    - metadata: {name: web, namespace: default, labels: {app: web}}
      spec:
        replicas: 2
        template:
          metadata: {labels: {app: web}}
          spec:
            containers:
              - {name: nginx, image: "nginx:1", resources: {requests: {cpu: 100m, memory: 64Mi}}}
              - {name: sidecar, image: "envoy:1", resources: {requests: {cpu: 50m, memory: 32Mi}}}
      load: {type: constant, rps: 40, cpu_per_request: 5m, baseline_cpu: 20m,
             memory_per_rps: 1Mi, baseline_memory: 100Mi, noise: 0}
    # share 10/2 = 5 rps: 7m + 3m*5 = 22m, 50Mi + 2Mi*5 = 60Mi
    - metadata: {name: api, namespace: default, labels: {app: api}}
      spec:
        replicas: 2
        template:
          metadata: {labels: {app: api}}
          spec:
            containers:
              - {name: api, image: "api:2", resources: {requests: {cpu: 50m, memory: 64Mi}}}
      load: {type: constant, rps: 10, cpu_per_request: 3m, baseline_cpu: 7m,
             memory_per_rps: 2Mi, baseline_memory: 50Mi, noise: 0}
    # share 3/2 = 1.5 rps: 1m + 10m*1.5 = 16m, 200Mi + 1Mi*1.5 = 201.5Mi
    - metadata: {name: worker, namespace: batch, labels: {app: worker}}
      spec:
        replicas: 2
        template:
          metadata: {labels: {app: worker}}
          spec:
            containers:
              - {name: worker, image: "worker:1", resources: {requests: {cpu: 50m, memory: 256Mi}}}
      load: {type: constant, rps: 3, cpu_per_request: 10m, baseline_cpu: 1m,
             memory_per_rps: 1Mi, baseline_memory: 200Mi, noise: 0}
"""


def cluster_spec(cluster_yaml: str = CLUSTER_YAML) -> ClusterSpec:
    spec = parse_cluster_config(cluster_yaml, "tests/top/cluster.py")
    assert spec is not None
    return spec


#: Scraping without the kubelet's resource endpoint: pods exist, but no metrics-server data.
NO_KUBELET_CONFIG = """
global: {scrape_interval: 10s}
scrape_configs:
  - job_name: cadvisor
    metrics_path: /metrics/cadvisor
    cluster_sd_configs: [{role: node}]
  - job_name: kube-state-metrics
    honor_labels: true
    cluster_sd_configs: [{role: kube-state-metrics}]
"""


async def _scrape(data: Path, cluster: SimulatedCluster, run_s: float, config: MainConfig) -> None:
    clock = VirtualClock(round(START_S * 1000))
    fetch = InProcessFetch(cluster, clock)
    db = DB.open(data, Options(retention_ms=None))
    service = ScrapeService(db.appender, clock, fetch, cluster=fetch.discover)
    service.apply(config)
    service.start()
    try:
        await clock.advance_ms(round(run_s * 1000))
    finally:
        await service.stop()
        db.close()


def scrape_cluster(
    data: Path,
    run_s: float = RUN_S,
    config_yaml: str | None = None,
    cluster_yaml: str = CLUSTER_YAML,
) -> SimulatedCluster:
    """Scrape a fresh cluster for ``run_s`` virtual seconds into ``data``; returns the
    cluster (at the end time) for its names. The scrape configuration is the embedded
    kubeprom.yml's (jobs cadvisor, kubelet, kube-state-metrics every 10s) unless
    ``config_yaml`` is given."""
    if config_yaml is None:
        config = load_main_config(None)
    else:
        config = parse_main_config(config_yaml, "tests/top/cluster.py")
    cluster = SimulatedCluster(cluster_spec(cluster_yaml), start_s=START_S)
    asyncio.run(_scrape(data, cluster, run_s, config))
    return cluster
