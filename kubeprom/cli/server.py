"""``kubeprom run`` assembled from named parts: the composition root.

:class:`Server` builds one :class:`~kubeprom.lifecycle.Component` per part and runs them
through a :class:`~kubeprom.lifecycle.Lifecycle` in :data:`START_ORDER`; stopping runs the
list backwards. Today's parts::

    store        open the data directory (replay the WAL)   ...  flush the WAL, close
    compaction   persist full head ranges every minute on the clock
    exporters    the simulated cluster's HTTP exporters (when the config has ``cluster:``)
    scrape       discovery + scrape loops into the store           (reloads)
    web          the HTTP API, /metrics, /federate, /-/reload      (reloads)

The parts to come have their places in the order: ``remote-write`` reads the store's WAL,
so it starts after the store and stops before it closes; ``notifier`` carries the alerts
the ``rules`` send, so it starts before them and stops after them; ``hpa`` scales the
simulated cluster, so it stops before the exporters. As in Prometheus' ``main.go``, the rule
manager stops before the scrape manager ("to ensure we don't trigger any false positive
alerts for rules using absent()"), the scrapers stop before the store closes (no writes to
a closed store), and the web server stops first and starts last, so the server reports
ready only once every part runs.

Reload (SIGHUP, ``POST /-/reload``) reads the configuration file once and hands it to every
running part that reloads (:class:`~kubeprom.lifecycle.Reloadable`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry

from kubeprom.clock import Clock
from kubeprom.config import load_main_config
from kubeprom.config.cluster import ClusterSpec
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.config.load import MainConfig
from kubeprom.config.scrape import ClusterSDConfig
from kubeprom.errors import KubepromError, StorageError
from kubeprom.exporters import ExporterServer, ServedTarget, SimulatedCluster
from kubeprom.lifecycle import Component, Lifecycle
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.fetch import HTTPFetcher
from kubeprom.scraper.metrics import ScrapeCollector
from kubeprom.scraper.service import ScrapeService
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.metrics import TSDBCollector
from kubeprom.tsdb.stats import head_stats
from kubeprom.web import (
    AdminHandlers,
    FederateHandler,
    HTTPLimits,
    QueryHandlers,
    SeriesHandlers,
    ServerStatus,
    WebConfig,
    build_app,
    start_server,
)

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

COMPACTION_INTERVAL_MS = 60_000  # Prometheus' DB.run compacts once a minute


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What the command line decides (the configuration file is read by the server)."""

    config_path: str | None
    data: str
    host: str = "127.0.0.1"
    port: int = 9090
    store: Options = field(default_factory=Options)
    web_config: WebConfig = field(default_factory=WebConfig)
    limits: HTTPLimits = field(default_factory=HTTPLimits)
    admin_api: bool = False
    query_max_concurrency: int = 20
    query_max_queued: int = 100
    query_timeout_s: float = 120.0
    flags: Mapping[str, str] = field(default_factory=dict)
    storage_retention: str = ""


def load_config(path: str | None) -> MainConfig:
    """The main configuration, with its ``cluster:`` section validated (positions kept)."""
    config = load_main_config(path)
    load_cluster_config(path)
    return config


class Store:
    """The store: opens the data directory on start; on stop flushes the WAL and closes."""

    name = "store"

    def __init__(self, path: str, options: Options, clock: Clock) -> None:
        self._path = path
        self._options = options
        self._clock = clock
        self._db: DB | None = None

    @property
    def db(self) -> DB:
        if self._db is None:
            raise RuntimeError("the store is not open (start it first)")
        return self._db

    async def start(self) -> None:
        self._db = await asyncio.to_thread(
            functools.partial(DB.open, self._path, self._options, clock=self._clock)
        )

    async def stop(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.to_thread(db.close)


class Compaction:
    """Persists the head's full block ranges every ``interval_ms`` of clock time.

    A compaction under way when the component stops is waited for, so the store never
    closes under a block being written. A failed compaction is logged and retried at the
    next interval (the head keeps the samples).
    """

    name = "compaction"

    def __init__(
        self, store: Store, clock: Clock, interval_ms: int = COMPACTION_INTERVAL_MS
    ) -> None:
        self._store = store
        self._clock = clock
        self.interval_ms = interval_ms
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[int] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._clock.sleep_ms(self.interval_ms)
            self._inflight = asyncio.ensure_future(asyncio.to_thread(self._store.db.compact))
            try:
                await asyncio.shield(self._inflight)
            except (StorageError, OSError) as err:
                log.error("compaction failed err=%s", err)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        inflight, self._inflight = self._inflight, None
        if inflight is not None and not inflight.done():
            with contextlib.suppress(StorageError, OSError):  # logged by _run's next turn
                await inflight


class Exporters:
    """The simulated cluster's exporters, served over HTTP; the cluster follows the clock."""

    name = "exporters"

    def __init__(self, spec: ClusterSpec, clock: Clock) -> None:
        self._spec = spec
        self._clock = clock
        self._server: ExporterServer | None = None

    def targets(self) -> list[ServedTarget]:
        """The served targets with their bound addresses (empty unless running)."""
        return self._server.targets() if self._server is not None else []

    async def start(self) -> None:
        cluster = SimulatedCluster(self._spec, start_s=self._clock.now_ms() / 1000)
        server = ExporterServer(cluster, clock=self._clock)
        await server.start()
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()


class Scrape:
    """Discovery and scrape loops writing into the store; reloads the scrape configs."""

    name = "scrape"

    def __init__(
        self, store: Store, exporters: Exporters | None, clock: Clock, config: MainConfig
    ) -> None:
        self._store = store
        self._exporters = exporters
        self._clock = clock
        self._config = config
        self._fetch: HTTPFetcher | None = None
        self._service: ScrapeService | None = None

    @property
    def service(self) -> ScrapeService:
        if self._service is None:
            raise RuntimeError("scraping is not running (start it first)")
        return self._service

    def _discover(self, sd: ClusterSDConfig) -> list[TargetGroup]:
        served = self._exporters.targets() if self._exporters is not None else []
        return cluster_groups(served, sd.role)

    async def start(self) -> None:
        fetch = HTTPFetcher()
        service = ScrapeService(self._store.db.appender, self._clock, fetch, cluster=self._discover)
        try:
            service.apply(self._config)
        except BaseException:
            await fetch.close()
            raise
        service.start()
        self._fetch, self._service = fetch, service

    async def reload(self, config: MainConfig) -> None:
        self.service.apply(config)
        self._config = config

    async def stop(self) -> None:
        service, self._service = self._service, None
        fetch, self._fetch = self._fetch, None
        if service is not None:
            await service.stop()
        if fetch is not None:
            await fetch.close()


Reload = Callable[[], Awaitable[None]]


class Web:
    """The HTTP server over the store and the scrape service; reloads what it shows of the
    configuration (``/api/v1/status/config``, ``/federate``'s external labels)."""

    name = "web"

    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        scrape: Scrape,
        clock: Clock,
        config: MainConfig,
        reload: Reload,
    ) -> None:
        self._settings = settings
        self._store = store
        self._scrape = scrape
        self._clock = clock
        self._config = config
        self._reload = reload
        self._runner: web.AppRunner | None = None
        self.status: ServerStatus | None = None
        self.address = ""

    def _app(self) -> web.Application:
        s = self._settings
        db = self._store.db
        scraping = self._scrape.service
        registry = CollectorRegistry()
        registry.register(TSDBCollector(db))
        registry.register(ScrapeCollector(scraping))
        self.status = ServerStatus(
            config_yaml=lambda: self._config.text,
            tsdb_stats=lambda limit: head_stats(db.head, limit),
            start_time_ms=self._clock.now_ms(),
            flags=s.flags,
            storage_retention=s.storage_retention,
            corruption_count=lambda: len(db.corrupt_blocks),
        )
        api = LocalQueryAPI(db.querier, clock=self._clock)
        return build_app(
            registry,
            clock=self._clock,
            targets=scraping,
            query=QueryHandlers(
                api,
                max_concurrency=s.query_max_concurrency,
                max_queued=s.query_max_queued,
                default_timeout_s=s.query_timeout_s,
            ),
            series=SeriesHandlers(db.querier, targets=scraping),
            status=self.status,
            federate=FederateHandler(
                db.querier, external_labels=lambda: self._config.global_.external_labels
            ),
            admin=AdminHandlers(db if s.admin_api else None),
            reload=self._reload,
            web_config=s.web_config,
            limits=s.limits,
        )

    async def start(self) -> None:
        s = self._settings
        runner = await start_server(
            self._app(), s.host, s.port, web_config=s.web_config, limits=s.limits
        )
        port = runner.addresses[0][1] if runner.addresses else s.port
        scheme = "https" if s.web_config.tls else "http"
        self.address = f"{scheme}://{s.host}:{port}"
        self._runner = runner
        log.info("listening address=%s data=%s", self.address, s.data)

    async def reload(self, config: MainConfig) -> None:
        self._config = config

    def reloaded(self, *, success: bool) -> None:
        """Record a reload attempt for ``/api/v1/status/runtimeinfo``."""
        if self.status is not None:
            self.status.reloaded(success=success, t_ms=self._clock.now_ms())

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


class Server:
    """The parts of ``kubeprom run`` in :data:`START_ORDER`. Use from one event loop.

    The configuration file is read here, before anything starts, so a bad file fails
    without touching the data directory. Raises ConfigError for a bad file.
    """

    def __init__(self, settings: ServerSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.config = load_main_config(settings.config_path)
        spec = load_cluster_config(settings.config_path)
        self.store = Store(settings.data, settings.store, clock)
        self.compaction = Compaction(self.store, clock)
        self.exporters = Exporters(spec, clock) if spec is not None else None
        self.scrape = Scrape(self.store, self.exporters, clock, self.config)
        self.web = Web(settings, self.store, self.scrape, clock, self.config, self.reload)
        parts: list[Component | None] = [
            self.store,
            self.compaction,
            self.exporters,
            self.scrape,
            self.web,
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
                config = load_config(self.settings.config_path)
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
