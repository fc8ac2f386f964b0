"""Scraping as configured: discovery -> targets -> scrape loops, reloadable.

``ScrapeService`` joins the parsed ``scrape_configs``, their discoveries (static, file, and
the simulated cluster through a callable), target labelling and the :class:`ScrapeManager`.
It is the ``TargetsView`` behind ``/api/v1/targets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kubeprom.clock import Clock
from kubeprom.config.load import MainConfig
from kubeprom.config.relabeling import process
from kubeprom.config.scrape import ClusterSDConfig, ScrapeConfig
from kubeprom.model.labels import Labels
from kubeprom.scraper.discovery.file import FileDiscovery
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.discovery.static import static_groups
from kubeprom.scraper.fetch import Fetch
from kubeprom.scraper.loop import Offload, ScrapeCounters, ScrapeOptions, TargetHealth
from kubeprom.scraper.manager import ScrapeManager, ScrapeTarget
from kubeprom.scraper.targets import Target, build_targets
from kubeprom.tsdb.api import Appender, MetricMetadata

log = logging.getLogger(__name__)

ClusterDiscovery = Callable[[ClusterSDConfig], list[TargetGroup]]
"""Target groups of the simulated cluster for one ``cluster_sd_configs`` entry."""


def scrape_options(cfg: ScrapeConfig, target: Target) -> ScrapeOptions:
    limits = cfg.limits
    rules = cfg.metric_relabel_configs
    return ScrapeOptions(
        interval_ms=target.scrape_interval_ms,
        timeout_ms=target.scrape_timeout_ms,
        honor_labels=cfg.honor_labels,
        honor_timestamps=cfg.honor_timestamps,
        sample_limit=limits.sample_limit,
        label_limit=limits.label_limit,
        label_name_length_limit=limits.label_name_length_limit,
        label_value_length_limit=limits.label_value_length_limit,
        body_size_limit=limits.body_size_limit_bytes,
        metric_relabel=(lambda labels: process(labels, rules)) if rules else None,
    )


@dataclass(slots=True)
class _Job:
    config: ScrapeConfig
    files: list[FileDiscovery] = field(default_factory=list)
    dropped: list[Labels] = field(default_factory=list)


class ScrapeService:
    """Runs every configured scrape job; ``apply(config)`` reloads without losing loops."""

    def __init__(
        self,
        appender: Callable[[], Appender],
        clock: Clock,
        fetch: Fetch,
        *,
        cluster: ClusterDiscovery | None = None,
        offset_seed: int = 0,
        offload: Offload | None = None,
    ) -> None:
        self._clock = clock
        self._cluster = cluster
        self._seed = offset_seed
        self.manager = ScrapeManager(appender, clock, fetch, offload=offload)
        self._jobs: dict[str, _Job] = {}
        self._watchers: list[asyncio.Task[None]] = []
        self._running = False

    def apply(self, config: MainConfig) -> None:
        """Adopt a (re)loaded configuration and resync targets."""
        self._stop_watchers()
        self._jobs = {
            sc.job_name: _Job(sc, [FileDiscovery(f) for f in sc.file_sd_configs])
            for sc in config.scrape_configs
        }
        self.refresh()
        if self._running:
            self._start_watchers()

    def refresh(self) -> None:
        """Re-run discovery and target labelling for every job; sync the scrape loops."""
        wanted: list[ScrapeTarget] = []
        for job in self._jobs.values():
            cfg = job.config
            groups = static_groups(cfg.static_configs)
            for fd in job.files:
                groups += fd.groups() or fd.read()
            if self._cluster is not None:
                for sd in cfg.cluster_sd_configs:
                    groups += self._cluster(sd)
            result = build_targets(cfg, groups)
            for failure in result.failures:
                log.warning("cannot build target job=%s err=%s", cfg.job_name, failure)
            job.dropped = [d.discovered_labels for d in result.dropped]
            limit = cfg.limits.target_limit
            active = result.active
            if limit and len(active) > limit:
                log.error(
                    "target_limit exceeded job=%s targets=%d limit=%d",
                    cfg.job_name,
                    len(active),
                    limit,
                )
                active = []
            wanted += [
                ScrapeTarget(
                    t.job,
                    t.labels,
                    t.url,
                    scrape_options(cfg, t),
                    offset_ms=t.offset_ms(self._seed),
                    discovered=t.discovered_labels,
                )
                for t in active
            ]
        self.manager.sync(wanted)

    def start(self) -> None:
        self._running = True
        self.manager.start()
        self._start_watchers()

    def _start_watchers(self) -> None:
        loop = asyncio.get_running_loop()
        for job in self._jobs.values():
            for fd in job.files:
                self._watchers.append(loop.create_task(fd.run(self._clock, self._on_files)))

    def _on_files(self, _groups: Sequence[TargetGroup]) -> None:
        self.refresh()

    def _stop_watchers(self) -> None:
        for task in self._watchers:
            task.cancel()
        self._watchers = []

    async def stop(self) -> None:
        self._running = False
        watchers, self._watchers = self._watchers, []
        for task in watchers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.manager.stop()

    # TargetsView
    def active_targets(self) -> list[tuple[ScrapeTarget, TargetHealth]]:
        return self.manager.targets()

    def dropped_targets(self) -> list[tuple[str, Labels]]:
        return [(name, d) for name, job in self._jobs.items() for d in job.dropped]

    @property
    def counters(self) -> ScrapeCounters:
        return self.manager.counters

    # TargetMetadataView
    def target_metadata(self) -> list[tuple[Labels, dict[str, MetricMetadata]]]:
        return self.manager.target_metadata()
