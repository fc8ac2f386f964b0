"""Keeps one scrape loop running per target, following discovery.

``sync(targets)`` starts loops for new targets and stops those that disappeared, marking
their series stale at once (as Prometheus does when a target is removed). Loops run as
asyncio tasks under the given clock, so a VirtualClock drives them in simulations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubeprom.clock import Clock
from kubeprom.model.labels import EMPTY, Labels
from kubeprom.scraper.fetch import Fetch
from kubeprom.scraper.loop import (
    Offload,
    ScrapeCounters,
    ScrapeLoop,
    ScrapeOptions,
    TargetHealth,
)
from kubeprom.tsdb.api import Appender, MetricMetadata

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScrapeTarget:
    """A target ready to scrape: final labels, URL, settings and its offset in the interval."""

    job: str
    labels: Labels
    url: str
    options: ScrapeOptions
    offset_ms: int = 0
    discovered: Labels = EMPTY  # labels before relabeling, for /api/v1/targets

    @property
    def key(self) -> tuple[str, str, Labels]:
        return (self.job, self.url, self.labels)


@dataclass(slots=True)
class _Running:
    target: ScrapeTarget
    loop: ScrapeLoop
    task: asyncio.Task[None] | None


class ScrapeManager:
    """Owns the scrape loops. Use from one event loop."""

    def __init__(
        self,
        appender: Callable[[], Appender],
        clock: Clock,
        fetch: Fetch,
        *,
        offload: Offload | None = None,
    ) -> None:
        self._appender = appender
        self._clock = clock
        self._fetch = fetch
        self._offload = offload
        self.counters = ScrapeCounters()  # Prometheus' prometheus_target_scrapes_* totals
        self._running: dict[tuple[str, str, Labels], _Running] = {}
        self._started = False

    def sync(self, targets: Sequence[ScrapeTarget]) -> None:
        """Make the running loops match ``targets`` (same key = same loop kept running)."""
        wanted = {t.key: t for t in targets}
        for key in [k for k in self._running if k not in wanted]:
            self._remove(key)
        for key, target in wanted.items():
            if key not in self._running:
                loop = ScrapeLoop(
                    target.labels,
                    target.url,
                    target.options,
                    self._fetch,
                    self._appender,
                    offset_ms=target.offset_ms,
                    clock=self._clock,
                    offload=self._offload,
                    counters=self.counters,
                )
                task = self._spawn(loop) if self._started else None
                self._running[key] = _Running(target, loop, task)

    def _spawn(self, loop: ScrapeLoop) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(loop.run(self._clock))

    def _remove(self, key: tuple[str, str, Labels]) -> None:
        run = self._running.pop(key)
        run.loop.stop()
        if run.task is not None:
            run.task.cancel()
        run.loop.stale_all(self._clock.now_ms())
        log.info("target removed job=%s url=%s", run.target.job, run.target.url)

    def start(self) -> None:
        """Start every loop (call from a running event loop)."""
        self._started = True
        for run in self._running.values():
            if run.task is None:
                run.task = self._spawn(run.loop)

    async def stop(self) -> None:
        """Stop every loop and wait for them; series are not marked stale (shutdown)."""
        self._started = False
        tasks = []
        for run in self._running.values():
            run.loop.stop()
            if run.task is not None:
                run.task.cancel()
                tasks.append(run.task)
                run.task = None
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def targets(self) -> list[tuple[ScrapeTarget, TargetHealth]]:
        """Active targets with their health, ordered by job and URL."""
        runs = sorted(self._running.values(), key=lambda r: (r.target.job, r.target.url))
        return [(r.target, r.loop.health) for r in runs]

    def target_metadata(self) -> list[tuple[Labels, dict[str, MetricMetadata]]]:
        """(target labels, metadata by metric family) per target, ordered by job and URL."""
        runs = sorted(self._running.values(), key=lambda r: (r.target.job, r.target.url))
        return [(r.target.labels, r.loop.metadata()) for r in runs]

    def loops(self) -> list[ScrapeLoop]:
        return [r.loop for r in self._running.values()]
