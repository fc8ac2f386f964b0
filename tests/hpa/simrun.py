"""A simulated cluster scraped into a MemStore in virtual time, for the PromQL metric sources.

:func:`simulate` runs a kubeprom.yml (scrape configs + ``cluster:``) for a while on a
VirtualClock, stopping at checkpoints where a callback may act on the cluster (scale a
Deployment) and take observations; every body served by a kubelet's ``/metrics/resource`` is
kept with its node and scrape time, so tests can recompute what metrics-server would serve
from the raw exposition, independently of the store and of PromQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubeprom.clock import VirtualClock
from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.config.load import parse_main_config
from kubeprom.exporters import SimulatedCluster
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.scraper.fetch import FetchResult
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.tsdb import DB
from kubeprom.tsdb.memstore import MemStore

# Two nodes scraped every 10 s; "web" (two containers, a ramp of load) and "leaky" (OOM-killed
# every few minutes) in namespace default.
CONFIG = """
global: {scrape_interval: 10s, scrape_timeout: 5s}
scrape_configs:
  - job_name: kubelet
    metrics_path: /metrics/resource
    cluster_sd_configs: [{role: node}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_node_name], target_label: node}
  - job_name: kube-state-metrics
    honor_labels: true
    cluster_sd_configs: [{role: kube-state-metrics}]
cluster:
  seed: 7
  nodes:
    - count: 2
      name_prefix: node-
      capacity: {cpu: "8", memory: 32Gi, pods: 110}
  deployments:
    - metadata: {name: web, namespace: default, labels: {app: web}}
      spec:
        replicas: 3
        template:
          metadata: {labels: {app: web}}
          spec:
            containers:
              - name: app
                image: app:1
                resources: {requests: {cpu: 200m, memory: 128Mi}}
                readinessProbe: {initialDelaySeconds: 5}
              - name: proxy
                image: envoy:1
                resources: {requests: {cpu: 50m, memory: 64Mi}}
      startup_delay: 3s
      load: {type: ramp, from: 20, to: 80, over: 10m, cpu_per_request: 4m, baseline_cpu: 10m,
             memory_per_rps: 1Mi, baseline_memory: 64Mi, noise: 0.05}
    - metadata: {name: leaky, namespace: default, labels: {app: leaky}}
      spec:
        replicas: 2
        template:
          metadata: {labels: {app: leaky}}
          spec:
            containers:
              - name: worker
                image: worker:1
                resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 200Mi}}
      load: {type: constant, rps: 5, cpu_per_request: 8m, baseline_cpu: 5m,
             baseline_memory: 150Mi, memory_leak_per_hour: 600Mi, noise: 0.1}
"""
START_S = 1_800_000_000.0
START_MS = int(START_S * 1000)


@dataclass(frozen=True, slots=True)
class Body:
    """One scrape of a kubelet's /metrics/resource: the node, the scrape time, the text."""

    node: str
    t_ms: int
    text: str


@dataclass(slots=True)
class Sim:
    store: MemStore | DB
    cluster: SimulatedCluster
    clock: VirtualClock
    kubelet_bodies: list[Body] = field(default_factory=list)

    @property
    def api(self) -> LocalQueryAPI:
        store = self.store
        if isinstance(store, DB):
            return LocalQueryAPI(store.querier)
        return LocalQueryAPI(lambda: store)


class _RecordingFetch:
    def __init__(self, inner: InProcessFetch, sim: Sim) -> None:
        self.inner = inner
        self.sim = sim
        self.nodes = {
            t.url: t.node or "" for t in inner.targets if t.metrics_path == "/metrics/resource"
        }

    async def __call__(self, url: str, timeout_s: float, body_limit: int) -> FetchResult:
        result = await self.inner(url, timeout_s, body_limit)
        node = self.nodes.get(url)
        if node is not None:
            text = result.body.decode()
            self.sim.kubelet_bodies.append(Body(node, self.inner.clock.now_ms(), text))
        return result


Checkpoint = Callable[[Sim], Awaitable[None] | None]


async def simulate(
    config_text: str,
    checkpoints: list[tuple[int, Checkpoint | None]],
    store: MemStore | DB | None = None,
) -> Sim:
    """Run ``config_text`` from START_MS into ``store`` (a new MemStore by default), stopping
    at each ``(offset_ms, callback)`` in order; the run ends at the last checkpoint."""
    spec = parse_cluster_config(config_text, "test.yml")
    assert spec is not None
    main = parse_main_config(config_text, "test.yml")
    clock = VirtualClock(START_MS)
    cluster = SimulatedCluster(spec, start_s=START_S)
    fetch = InProcessFetch(cluster, clock)
    store = store if store is not None else MemStore()
    sim = Sim(store, cluster, clock)
    recording = _RecordingFetch(fetch, sim)
    service = ScrapeService(store.appender, clock, recording, cluster=fetch.discover)
    service.apply(main)
    service.start()
    try:
        for offset_ms, callback in checkpoints:
            await clock.set_ms(START_MS + offset_ms)
            cluster.advance_to(clock.now_ms() / 1000)
            if callback is not None:
                done = callback(sim)
                if done is not None:
                    await done
    finally:
        await service.stop()
    return sim
