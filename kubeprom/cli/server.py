"""``kubeprom run`` assembled from named parts: the composition root.

:class:`Server` builds one :class:`~kubeprom.lifecycle.Component` per part and runs them
through a :class:`~kubeprom.lifecycle.Lifecycle` in :data:`START_ORDER`; stopping runs the
list backwards. Today's parts::

    store        open the data directory (replay the WAL)   ...  flush the WAL, close
                 (``--agent``: the WAL-only store)
    compaction   persist full head ranges every minute on the clock (agent: checkpoint
                 the WAL every 2 h)
    remote-write a queue per remote_write entry reading the WAL    (reloads)
    exporters    the simulated cluster's HTTP exporters (when the config has ``cluster:``)
    scrape       discovery + scrape loops into the store           (reloads)
    notifier     alerts to Alertmanager, a bounded queue each      (reloads)
    rules        recording and alerting rule groups on the clock   (reloads)
    hpa          the HPA controller, every sync period on the clock (reloads)
    web          the HTTP API, /metrics, /federate, /-/reload      (reloads)

``notifier`` carries the alerts the ``rules`` send, so it starts before them and stops after
them. ``remote-write`` reads the store's WAL, so it starts after the store and stops before
it closes, after every part that appends (it reads the WAL to its end while it flushes).
In agent mode there are no ``notifier``, ``rules`` and ``hpa``. ``hpa`` scales the
simulated cluster, so it stops before the exporters; the web server serves its objects, so
it starts after it. As in Prometheus' ``main.go``, the rule
manager stops before the scrape manager ("to ensure we don't trigger any false positive
alerts for rules using absent()"), the scrapers stop before the store closes (no writes to
a closed store), and the web server stops first and starts last, so the server reports
ready only once every part runs.

Reload (SIGHUP, ``POST /-/reload``) reads the configuration file once and hands it to every
running part that reloads (:class:`~kubeprom.lifecycle.Reloadable`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from kubeprom.cli.parts import (
    Alerting,
    Autoscaling,
    Compaction,
    Exporters,
    RemoteWritePart,
    Rules,
    Scrape,
    Store,
    Web,
)
from kubeprom.cli.run_storage import check_agent_config
from kubeprom.cli.settings import ServerSettings
from kubeprom.clock import Clock
from kubeprom.config import load_main_config
from kubeprom.config.cluster import ClusterSpec
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.config.load import MainConfig
from kubeprom.errors import KubepromError
from kubeprom.lifecycle import Component, Lifecycle
from kubeprom.model.events import EventLog
from kubeprom.rules.batching import Batching

log = logging.getLogger(__name__)

START_ORDER = (
    "store",
    "compaction",
    "remote-write",
    "exporters",
    "notifier",
    "scrape",
    "rules",
    "hpa",
    "web",
)
"""Every part's place, built or to come; a server runs the ones it has in this order."""


def load_config(path: str | None, *, agent: bool = False) -> MainConfig:
    """The main configuration, with its ``cluster:`` section validated (positions kept);
    with ``agent``, also Prometheus' agent-mode checks."""
    config = load_main_config(path)
    load_cluster_config(path)
    if agent:
        check_agent_config(config)
    return config


@dataclass(frozen=True, slots=True)
class Preloaded:
    """A simulation's configuration, read and varied before the server is built (instead of
    ``settings.config_path``). The parts run in process on the virtual clock: exporters
    without sockets, rules and compaction at their instants, no web server."""

    config: MainConfig
    cluster: ClusterSpec
    events: EventLog
    direct_scrape: bool = True  # samples from the exporters' families, not their text


class Server:
    """The parts of ``kubeprom run`` in :data:`START_ORDER`. Use from one event loop.

    The configuration file is read here, before anything starts, so a bad file fails
    without touching the data directory. Raises ConfigError for a bad file. ``preloaded``
    makes it ``kubeprom simulate``'s loop: the same parts, on a virtual clock.
    """

    def __init__(
        self, settings: ServerSettings, clock: Clock, preloaded: Preloaded | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock
        agent = settings.remote.agent
        virtual = preloaded is not None
        if preloaded is None:
            self.config = load_main_config(settings.config_path)
            if agent:
                check_agent_config(self.config)
            spec = load_cluster_config(settings.config_path)
            self.events = EventLog()
            if self.config.simulation_node is not None:
                log.info("the simulation: section is for kubeprom simulate; run leaves it aside")
        else:
            self.config, spec, self.events = preloaded.config, preloaded.cluster, preloaded.events
        self.store = Store(settings.data, settings.store, clock, agent=agent)
        self.compaction = Compaction(self.store, clock, inline=virtual)
        self.remote_write = RemoteWritePart(
            self.store, clock, self.config, settings.remote.flush_deadline_ms
        )
        self.exporters = (
            Exporters(
                spec,
                clock,
                self.events,
                in_process=virtual,
                direct=preloaded is not None and preloaded.direct_scrape,
            )
            if spec is not None
            else None
        )
        self.scrape = Scrape(self.store, self.exporters, clock, self.config)
        self.alerting = None if agent else Alerting(settings.rules, self.config, clock)
        self.autoscaling = (
            None
            if agent
            else Autoscaling(
                self.store,
                self.exporters,
                self.events,
                clock,
                settings.hpa,
                settings.feature_gates,
                self.config,
                adapter_relist_interval_ms=settings.adapter_relist_interval_ms,
            )
        )
        # In virtual time a group whose outputs nothing else reads evaluates in chunks.
        batching = (
            Batching(
                settings.rule_batch_steps,
                self.autoscaling.store_reads() if self.autoscaling else frozenset(),
            )
            if virtual
            else None
        )
        self.rules = (
            None
            if self.alerting is None
            else Rules(
                self.store,
                self.alerting,
                clock,
                settings.rules,
                self.config,
                inline=virtual,
                batching=batching,
            )
        )
        self.web = Web(
            settings,
            self.store,
            self.scrape,
            self.alerting,
            self.rules,
            self.autoscaling,
            self.remote_write,
            clock,
            self.config,
            self.reload,
        )
        parts: list[Component | None] = [
            self.store,
            self.compaction,
            None if virtual else self.remote_write,  # a scenario has no remote_write
            self.exporters,
            self.alerting,
            self.scrape,
            self.rules,
            self.autoscaling,
            None if virtual else self.web,
        ]
        self.lifecycle: Lifecycle[MainConfig] = Lifecycle(in_start_order(parts))
        self._reload_lock = asyncio.Lock()
        self._stopping = False

    async def start(self) -> None:
        await self.lifecycle.start()

    async def stop(self) -> None:
        # A reload under way finishes first; later ones are refused (holding the lock
        # through the stop would deadlock with a /-/reload request the web stop awaits).
        async with self._reload_lock:
            self._stopping = True
        await self.lifecycle.stop()

    async def reload(self) -> None:
        """Read the configuration file again and hand it to the parts that reload.

        Raises KubepromError (logged) when the file is invalid or a part refuses it; the
        parts keep running with what they had.
        """
        async with self._reload_lock:
            if self._stopping:
                raise KubepromError("cannot reload: the server is shutting down")
            try:
                config = load_config(self.settings.config_path, agent=self.settings.remote.agent)
                await self.lifecycle.reload(config)
            except KubepromError as err:
                self.web.reloaded(success=False)
                log.error("reload failed, keeping the running configuration err=%s", err)
                raise
            self.config = config
            self.web.reloaded(success=True)
            log.info("configuration reloaded config=%s", config.source)


def in_start_order(parts: list[Component | None]) -> list[Component]:
    """The parts present, checked against :data:`START_ORDER`. Raises ValueError for a part
    without a place or out of its place."""
    present = [p for p in parts if p is not None]
    unknown = [p.name for p in present if p.name not in START_ORDER]
    if unknown:
        raise ValueError(f"parts without a place in START_ORDER: {unknown}")
    ranks = [START_ORDER.index(p.name) for p in present]
    if ranks != sorted(ranks):
        raise ValueError(f"parts out of START_ORDER: {[p.name for p in present]}")
    return present
