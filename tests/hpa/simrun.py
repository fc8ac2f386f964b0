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
from kubeprom.tsdb.memstore import MemStore

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
    store: MemStore
    cluster: SimulatedCluster
    clock: VirtualClock
    kubelet_bodies: list[Body] = field(default_factory=list)

    @property
    def api(self) -> LocalQueryAPI:
        return LocalQueryAPI(lambda: self.store)


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


async def simulate(config_text: str, checkpoints: list[tuple[int, Checkpoint | None]]) -> Sim:
    """Run ``config_text`` from START_MS, stopping at each ``(offset_ms, callback)`` in
    order; the run ends at the last checkpoint."""
    spec = parse_cluster_config(config_text, "test.yml")
    assert spec is not None
    main = parse_main_config(config_text, "test.yml")
    clock = VirtualClock(START_MS)
    cluster = SimulatedCluster(spec, start_s=START_S)
    fetch = InProcessFetch(cluster, clock)
    store = MemStore()
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
