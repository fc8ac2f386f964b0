"""The live HPA controller as ``kubeprom run`` wires it, in virtual time: a simulated cluster
whose kubelets are scraped into a MemStore, the controller and KEDA's loop reading their
metrics with PromQL through :func:`kubeprom.cli.hpa_backends.metrics_backends`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from kubeprom.cli.hpa_backends import LoadedAutoscaling, load_autoscaling_parts, metrics_backends
from kubeprom.clock import VirtualClock
from kubeprom.config.cluster_parse import parse_cluster_config
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.config.load import MainConfig, parse_main_config
from kubeprom.exporters import SimulatedCluster
from kubeprom.hpa.controller import ControllerConfig
from kubeprom.hpa.keda_loop import KedaLoop
from kubeprom.hpa.manager import Autoscalers
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.model.events import EventLog
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.sim.workloads import ClusterWorkloads
from kubeprom.tsdb import MemStore

T0_MS = 1_800_000_000_000

#: The kubelets' /metrics/resource every 15 s, as the default kubeprom.yml's kubelet job
#: (there every 10 s), and kube-state-metrics.
SCRAPE = """\
global: {scrape_interval: 15s, scrape_timeout: 10s}
scrape_configs:
  - job_name: kubelet
    metrics_path: /metrics/resource
    cluster_sd_configs: [{role: node}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_node_name], target_label: node}
  - job_name: kube-state-metrics
    honor_labels: true
    cluster_sd_configs: [{role: kube-state-metrics}]
"""


@dataclass(slots=True)
class Live:
    """A running world: step it with :meth:`until`."""

    cluster: SimulatedCluster
    clock: VirtualClock
    store: MemStore
    events: EventLog
    hpas: Autoscalers
    backends: MetricsBackends
    loaded: LoadedAutoscaling
    keda: KedaLoop | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def api(self) -> LocalQueryAPI:
        store = self.store
        return LocalQueryAPI(lambda: store)

    async def until(self, t_ms: int) -> None:
        await self.clock.set_ms(t_ms)

    async def minutes(self, minutes: float) -> None:
        await self.clock.advance_ms(round(minutes * 60_000))


def main_config(text: str) -> MainConfig:
    return parse_main_config(text, "kubeprom.yml")


@contextlib.asynccontextmanager
async def live(
    config_text: str,
    *,
    start_ms: int = T0_MS,
    events: EventLog | None = None,
    controller: ControllerConfig | None = None,
    relist_ms: int = 60_000,
) -> AsyncIterator[Live]:
    """Run ``config_text`` (a kubeprom.yml: scrape configs, ``cluster:``, the autoscaling
    sections) from ``start_ms``: scrapes, the HPA controller every sync period and KEDA's
    loop, all on one VirtualClock; stopped on exit. prometheus-adapter relists its series
    every ``relist_ms`` (``kubeprom run --metrics-relist-interval``)."""
    events = events if events is not None else EventLog()
    config = main_config(config_text)
    spec = parse_cluster_config(config_text, "kubeprom.yml")
    if spec is None:
        raise AssertionError("the config has no cluster section")
    loaded = load_autoscaling_parts(config, FeatureGates())
    clock = VirtualClock(start_ms)
    cluster = SimulatedCluster(spec, start_s=start_ms / 1000, events=events)
    store = MemStore()
    fetch = InProcessFetch(cluster, clock)
    scraping = ScrapeService(store.appender, clock, fetch, cluster=fetch.discover)
    scraping.apply(config)
    backends = metrics_backends(
        LocalQueryAPI(lambda: store), loaded, config, start_ms, adapter_relist_interval_ms=relist_ms
    )
    hpas = Autoscalers(ClusterWorkloads(cluster), backends, events, controller)
    hpas.apply_config(loaded.hpas, start_ms)
    world = Live(cluster, clock, store, events, hpas, backends, loaded)
    scraping.start()
    world.tasks.append(asyncio.create_task(hpas.run(clock)))
    if backends.keda is not None:
        world.keda = KedaLoop(backends.keda, hpas.workloads, events)
        world.tasks.append(asyncio.create_task(world.keda.run(clock)))
    try:
        yield world
    finally:
        hpas.stop()
        if world.keda is not None:
            world.keda.stop()
        await scraping.stop()
        for task in world.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
