"""Scraping a simulated cluster without HTTP, for virtual-time runs.

:class:`InProcessFetch` is a scraper ``Fetch`` that renders a target's body straight from the
cluster's exporters after advancing the cluster to the clock's time, so the same parser,
scrape cache and store path run as in ``kubeprom run``, hours of cluster time in seconds.
"""

from __future__ import annotations

from kubeprom.clock import Clock
from kubeprom.config.scrape import ClusterSDConfig
from kubeprom.errors import ScrapeError
from kubeprom.exporters import ClusterExporters, ServedTarget, SimulatedCluster
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.fetch import FetchResult


class InProcessFetch:
    """Fetch bodies of a :class:`SimulatedCluster`'s targets by URL, in process."""

    def __init__(self, cluster: SimulatedCluster, clock: Clock) -> None:
        self.cluster = cluster
        self.clock = clock
        self.exporters = ClusterExporters(cluster)
        self.targets: list[ServedTarget] = self.exporters.targets()
        self._by_url = {t.url: t.target_id for t in self.targets}

    async def __call__(self, url: str, timeout_s: float, body_limit: int) -> FetchResult:
        target_id = self._by_url.get(url)
        if target_id is None:
            raise ScrapeError(f"Get {url!r}: no such simulated target")
        self.cluster.advance_to(self.clock.now_ms() / 1000)
        body, content_type = self.exporters.render(target_id, accept_openmetrics=True)
        if body_limit and len(body) > body_limit:
            raise ScrapeError(f"body size limit exceeded: more than {body_limit} bytes")
        return FetchResult(body, content_type)

    def discover(self, sd: ClusterSDConfig) -> list[TargetGroup]:
        """The scrape service's cluster discovery for these targets."""
        return cluster_groups(self.targets, sd.role)
