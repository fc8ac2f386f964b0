"""Self-instrumentation of scraping for ``/metrics`` (Prometheus' names where it has them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubeprom.scraper.loop import ScrapeCounters, TargetHealth
from kubeprom.scraper.manager import ScrapeTarget


class _Targets(Protocol):
    def active_targets(self) -> list[tuple[ScrapeTarget, TargetHealth]]: ...

    @property
    def counters(self) -> ScrapeCounters: ...


# Prometheus' process-wide scrape counters: (name without _total, help, ScrapeCounters field).
_COUNTERS = (
    (
        "prometheus_target_scrapes_sample_out_of_bounds",
        "Total number of samples rejected due to timestamp falling outside of the time bounds.",
        "sample_out_of_bounds",
    ),
    (
        "prometheus_target_scrapes_sample_out_of_order",
        "Total number of samples rejected due to not being out of the expected order.",
        "sample_out_of_order",
    ),
    (
        "prometheus_target_scrapes_sample_duplicate_timestamp",
        "Total number of samples rejected due to duplicate timestamps but different values.",
        "sample_duplicate_timestamp",
    ),
    (
        "prometheus_target_scrapes_exceeded_sample_limit",
        "Total number of scrapes that hit the sample limit and were rejected.",
        "exceeded_sample_limit",
    ),
    (
        "prometheus_target_scrapes_exceeded_body_size_limit",
        "Total number of scrapes that hit the body size limit",
        "exceeded_body_size_limit",
    ),
    (
        "prometheus_target_scrape_pool_exceeded_label_limits",
        "Total number of times scrape pools hit the label limits, during sync or config reload.",
        "exceeded_label_limits",
    ),
)


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
        counters = self._targets.counters
        for name, help_text, field in _COUNTERS:
            yield CounterMetricFamily(name, help_text, getattr(counters, field))
