"""Self-instrumentation of scraping for ``/metrics`` (Prometheus' names where it has them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubeprom.scraper.loop import TargetHealth
from kubeprom.scraper.manager import ScrapeTarget


class _Targets(Protocol):
    def active_targets(self) -> list[tuple[ScrapeTarget, TargetHealth]]: ...


class ScrapeCollector(Collector):
    """Per scrape pool: targets, scrapes, failed scrapes and samples of the last scrapes."""

    def __init__(self, targets: _Targets) -> None:
        self._targets = targets

    def collect(self) -> Iterator[Metric]:
        pools = GaugeMetricFamily(
            "prometheus_target_scrape_pool_targets",
            "Current number of targets in this scrape pool.",
            labels=["scrape_job"],
        )
        scrapes = CounterMetricFamily(
            "kubeprom_target_scrapes", "Scrapes run, by scrape pool.", labels=["scrape_job"]
        )
        failures = CounterMetricFamily(
            "kubeprom_target_scrape_failures",
            "Scrapes that failed (up == 0), by scrape pool.",
            labels=["scrape_job"],
        )
        samples = GaugeMetricFamily(
            "kubeprom_target_last_scrape_samples",
            "Samples the targets' last scrapes returned, summed by scrape pool.",
            labels=["scrape_job"],
        )
        by_pool: dict[str, list[TargetHealth]] = {}
        for target, health in self._targets.active_targets():
            by_pool.setdefault(target.job, []).append(health)
        for job, healths in sorted(by_pool.items()):
            pools.add_metric([job], len(healths))
            scrapes.add_metric([job], sum(h.scrapes for h in healths))
            failures.add_metric([job], sum(h.failures for h in healths))
            samples.add_metric([job], sum(h.last_samples for h in healths))
        yield from (pools, scrapes, failures, samples)
