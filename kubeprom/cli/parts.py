"""The parts of ``kubeprom run``, one :class:`~kubeprom.lifecycle.Component` each.

:mod:`kubeprom.cli.server` states their order and runs them; each part here only knows how
to start, stop and (where it can) reload itself, and which parts it reads from.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from prometheus_client import CollectorRegistry

from kubeprom.cli.hpa_backends import (
    kubelet_resolution_ms,
    load_autoscaling_parts,
    metrics_backends,
)
from kubeprom.cli.run_storage import Storage, open_storage
from kubeprom.cli.settings import RuleFlags, ServerSettings
from kubeprom.clock import Clock
from kubeprom.config.cluster import ClusterSpec
from kubeprom.config.hpa_spec import FeatureGates
from kubeprom.config.load import MainConfig
from kubeprom.config.scrape import ClusterSDConfig
from kubeprom.errors import StorageError
from kubeprom.exporters import ExporterServer, ServedTarget, SimulatedCluster
from kubeprom.hpa import ControllerConfig
from kubeprom.hpa.adapter import RELIST_INTERVAL_MS
from kubeprom.hpa.keda_loop import KedaLoop
from kubeprom.hpa.manager import Autoscalers
from kubeprom.hpa.metrics import MetricsBackends
from kubeprom.model.events import EventLog
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.promql.budget import SampleBudget
from kubeprom.promql.options import EngineOptions
from kubeprom.remote.metrics import QueueView, RemoteWriteCollector
from kubeprom.remote.service import RemoteWrite
from kubeprom.rules.alerting import Alert
from kubeprom.rules.batching import Batching
from kubeprom.rules.group import GroupOptions, inline
from kubeprom.rules.manager import RuleManager, RuleSettings, settings_from
from kubeprom.rules.metrics import NotifierCollector, RulesCollector
from kubeprom.rules.notifier import Notifier, notifications
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.fetch import HTTPFetcher
from kubeprom.scraper.metrics import ScrapeCollector
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.sim.workloads import ClusterWorkloads
from kubeprom.tsdb.api import Appender
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.stats import head_stats
from kubeprom.web import (
    AdminHandlers,
    FederateHandler,
    QueryHandlers,
    RulesHandlers,
    SeriesHandlers,
    ServerStatus,
    build_app,
    start_server,
)
from kubeprom.web.hpa_view import HPAView
from kubeprom.web.kube import KubeHandlers
from kubeprom.web.remote import RemoteReadHandler, RemoteWriteReceiver

log = logging.getLogger(__name__)

# Threads for large scrape bodies: one huge target keeps one busy, the other stays free. Each
# may hold a body up to the body size limit, so few.
SCRAPE_THREADS = 2

T = TypeVar("T")


class Store:
    """The store: opens the data directory on start (the full store, or the agent's WAL-only
    store); on stop flushes the WAL and closes."""

    name = "store"

    def __init__(self, path: str, options: Options, clock: Clock, *, agent: bool = False) -> None:
        self._path = path
        self._options = options
        self._clock = clock
        self.agent = agent
        self._storage: Storage | None = None

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            raise RuntimeError("the store is not open (start it first)")
        return self._storage

    @property
    def db(self) -> DB:
        db = self.storage.db
        if db is None:
            raise RuntimeError("an agent's store cannot be queried")
        return db

    @property
    def path(self) -> str:
        return self._path

    def appender(self) -> Appender:
        return self.storage.appender()

    async def start(self) -> None:
        self._storage = await asyncio.to_thread(
            functools.partial(
                open_storage, self._path, self._options, agent=self.agent, clock=self._clock
            )
        )

    async def stop(self) -> None:
        storage, self._storage = self._storage, None
        if storage is not None:
            await asyncio.to_thread(storage.close)


class Compaction:
    """Persists the head's full block ranges every ``interval_ms`` of clock time (an agent's
    store: checkpoints its WAL every 2 h instead).

    A compaction under way when the component stops is waited for, so the store never
    closes under a block being written. A failed compaction is logged and retried at the
    next interval (the head keeps the samples).
    """

    name = "compaction"

    def __init__(
        self,
        store: Store,
        clock: Clock,
        interval_ms: int | None = None,
        *,
        inline: bool = False,
    ) -> None:
        self._store = store
        self._clock = clock
        self.interval_ms = interval_ms
        self._inline = inline  # on a virtual clock: in the loop's thread, at its instant
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[object] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        storage = self._store.storage
        interval = self.interval_ms or storage.maintain_interval_ms
        while True:
            await self._clock.sleep_ms(interval)
            if self._inline:
                try:
                    storage.maintain()
                except (StorageError, OSError) as err:
                    log.error("compaction failed err=%s", err)
                continue
            self._inflight = asyncio.ensure_future(asyncio.to_thread(storage.maintain))
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


class RemoteWritePart:
    """Remote write: a queue per ``remote_write`` entry reading the store's WAL (and holding
    back the deletion of WAL segments not sent yet). Starts after the store; stops after the
    parts that append (so it reads the WAL to its end) and before the store closes."""

    name = "remote-write"

    def __init__(
        self, store: Store, clock: Clock, config: MainConfig, flush_deadline_ms: int
    ) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._flush_deadline_ms = flush_deadline_ms
        self._remote: RemoteWrite | None = None

    @property
    def queues(self) -> Sequence[QueueView]:
        return self._remote.queues if self._remote is not None else []

    async def start(self) -> None:
        storage = self._store.storage
        remote = RemoteWrite(
            Path(self._store.path),
            self._clock,
            samples_in=storage.samples_in,
            highest_in_ms=storage.highest_in_ms,
            metadata=storage.metadata_entries,
            flush_deadline_s=self._flush_deadline_ms / 1000,
        )
        if storage.wal is not None:
            storage.wal.keep_segments_from(remote.wal_floor)
        await remote.apply(self._config.remote_write, self._config.global_.external_labels)
        self._remote = remote

    async def reload(self, config: MainConfig) -> None:
        if self._remote is not None:
            await self._remote.apply(config.remote_write, config.global_.external_labels)
        self._config = config

    async def stop(self) -> None:
        remote, self._remote = self._remote, None
        if remote is not None:
            await remote.stop()
            wal = self._store.storage.wal
            if wal is not None:
                wal.keep_segments_from(None)


class Exporters:
    """The simulated cluster's exporters, served over HTTP; the cluster follows the clock and
    records its events in ``events``. ``in_process`` (simulations on a virtual clock) serves
    them to the scraper without sockets (:attr:`fetch`): same bodies, same parser."""

    name = "exporters"

    def __init__(
        self,
        spec: ClusterSpec,
        clock: Clock,
        events: EventLog,
        *,
        in_process: bool = False,
        direct: bool = False,
    ) -> None:
        self._spec = spec
        self._clock = clock
        self._events = events
        self._in_process = in_process
        self._direct = direct  # in process: samples from the families, no text
        self._server: ExporterServer | None = None
        self.fetch: InProcessFetch | None = None
        self.cluster: SimulatedCluster | None = None

    def targets(self) -> list[ServedTarget]:
        """The served targets with their bound addresses (empty unless running)."""
        if self.fetch is not None:
            return self.fetch.targets
        return self._server.targets() if self._server is not None else []

    async def start(self) -> None:
        cluster = SimulatedCluster(
            self._spec, start_s=self._clock.now_ms() / 1000, events=self._events
        )
        if self._in_process:
            self.fetch = InProcessFetch(cluster, self._clock, direct=self._direct)
            self.cluster = cluster
            return
        server = ExporterServer(cluster, clock=self._clock)
        await server.start()
        self._server, self.cluster = server, cluster

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()


class Autoscaling:
    """The HPA controller: the configuration's ``horizontal_pod_autoscalers`` (and those
    created through the API, and KEDA's for ``scaled_objects``) synced every
    ``--horizontal-pod-autoscaler-sync-period`` against the simulated cluster (every target
    missing without one), their metrics read with PromQL from the store
    (:func:`metrics_backends`); KEDA's 0 <-> 1 loop beside it. The configuration's sections
    are read and checked at construction (ConfigError) and again on reload; a reload that
    changes the adapter or the ScaledObjects starts their backends afresh."""

    name = "hpa"

    def __init__(
        self,
        store: Store,
        exporters: Exporters | None,
        events: EventLog,
        clock: Clock,
        controller: ControllerConfig,
        gates: FeatureGates,
        config: MainConfig,
        *,
        adapter_relist_interval_ms: int = RELIST_INTERVAL_MS,
    ) -> None:
        self._store = store
        self._relist_ms = adapter_relist_interval_ms
        self._exporters = exporters
        self._events = events
        self._clock = clock
        self._controller = controller
        self._gates = gates
        self._config = config
        self._loaded = load_autoscaling_parts(config, gates)
        self._manager: Autoscalers | None = None
        self._task: asyncio.Task[None] | None = None
        self.keda: KedaLoop | None = None
        self._keda_task: asyncio.Task[None] | None = None

    def store_reads(self) -> frozenset[str] | None:
        """The metric names the controller may select from the store (None: unknown)."""
        return self._loaded.store_reads()

    @property
    def manager(self) -> Autoscalers:
        if self._manager is None:
            raise RuntimeError("the HPA controller is not running (start it first)")
        return self._manager

    @property
    def cluster(self) -> SimulatedCluster | None:
        return self._exporters.cluster if self._exporters is not None else None

    def _backends(self, config: MainConfig) -> MetricsBackends:
        api = LocalQueryAPI(self._store.db.querier, clock=self._clock)
        return metrics_backends(
            api,
            self._loaded,
            config,
            self._clock.now_ms(),
            adapter_relist_interval_ms=self._relist_ms,
        )

    def _start_keda(self, manager: Autoscalers, backends: MetricsBackends) -> None:
        if backends.keda is None:
            return
        self.keda = KedaLoop(backends.keda, manager.workloads, self._events)
        self._keda_task = asyncio.get_running_loop().create_task(self.keda.run(self._clock))

    async def _stop_keda(self) -> None:
        keda, self.keda = self.keda, None
        task, self._keda_task = self._keda_task, None
        if keda is not None:
            keda.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def start(self) -> None:
        if self._loaded.hpas and self._config.scrape_config("kubelet") is None:
            log.warning(
                "no scrape job named kubelet: HPAs get no resource metrics "
                "(metrics-server's are computed from its /metrics/resource series)"
            )
        backends = self._backends(self._config)
        manager = Autoscalers(
            ClusterWorkloads(self.cluster), backends, self._events, self._controller
        )
        manager.apply_config(self._loaded.hpas, self._clock.now_ms())
        self._manager = manager
        self._task = asyncio.get_running_loop().create_task(manager.run(self._clock))
        self._start_keda(manager, backends)

    async def reload(self, config: MainConfig) -> None:
        loaded = load_autoscaling_parts(config, self._gates)
        manager = self.manager
        rebuild = self._loaded.backends_changed(loaded) or kubelet_resolution_ms(
            config
        ) != kubelet_resolution_ms(self._config)
        self._loaded, self._config = loaded, config
        if rebuild:
            await self._stop_keda()
            backends = self._backends(config)
            manager.metrics = backends
            self._start_keda(manager, backends)
        manager.apply_config(loaded.hpas, self._clock.now_ms())

    async def stop(self) -> None:
        await self._stop_keda()
        manager, self._manager = self._manager, None
        task, self._task = self._task, None
        if manager is not None:
            manager.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


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
        self._pool: ThreadPoolExecutor | None = None

    @property
    def service(self) -> ScrapeService:
        if self._service is None:
            raise RuntimeError("scraping is not running (start it first)")
        return self._service

    def _discover(self, sd: ClusterSDConfig) -> list[TargetGroup]:
        served = self._exporters.targets() if self._exporters is not None else []
        return cluster_groups(served, sd.role)

    def _offload(self, fn: Callable[[], T]) -> Awaitable[T]:
        """Runs a large scrape's decompression, parsing and appending in the scrape pool."""
        if self._pool is None:
            raise RuntimeError("scraping is not running (start it first)")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def start(self) -> None:
        in_process = self._exporters.fetch if self._exporters is not None else None
        if in_process is not None:
            service = ScrapeService(
                self._store.db.appender, self._clock, in_process, cluster=self._discover
            )
            service.apply(self._config)
            service.start()
            self._service = service
            return
        fetch = HTTPFetcher()
        self._pool = ThreadPoolExecutor(SCRAPE_THREADS, thread_name_prefix="kubeprom-scrape")
        service = ScrapeService(
            self._store.appender,
            self._clock,
            fetch,
            cluster=self._discover,
            offload=self._offload,
        )
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
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


Reload = Callable[[], Awaitable[None]]


class Alerting:
    """The notifier: one bounded queue and send loop per Alertmanager; reloads the
    ``alerting:`` section and external labels (loops of Alertmanagers that stay keep their
    queues). Starts before the rules that feed it and stops after them."""

    name = "notifier"

    def __init__(self, flags: RuleFlags, config: MainConfig, clock: Clock) -> None:
        self._flags = flags
        self._config = config
        self._clock = clock
        self._notifier: Notifier | None = None

    @property
    def notifier(self) -> Notifier:
        if self._notifier is None:
            raise RuntimeError("the notifier is not running (start it first)")
        return self._notifier

    def send(self, expr: str, alerts: list[Alert]) -> None:
        """Queue a rule's alerts (any thread); dropped when the notifier is not running."""
        if self._notifier is not None:
            self._notifier.send(notifications(expr, alerts, self._flags.external_url))

    async def start(self) -> None:
        notifier = Notifier(
            queue_capacity=self._flags.notification_queue_capacity, clock=self._clock
        )
        notifier.apply(self._config)
        self._notifier = notifier

    async def reload(self, config: MainConfig) -> None:
        self.notifier.apply(config)
        self._config = config

    async def stop(self) -> None:
        notifier, self._notifier = self._notifier, None
        if notifier is not None:
            await notifier.stop()


class Rules:
    """Recording and alerting rule groups on the clock, writing into the store and sending
    alerts through the notifier. A reload with a broken rule file keeps the running groups
    and reports the error (Prometheus' behaviour)."""

    name = "rules"

    def __init__(
        self,
        store: Store,
        alerting: Alerting,
        clock: Clock,
        flags: RuleFlags,
        config: MainConfig,
        *,
        inline: bool = False,
        batching: Batching | None = None,
    ) -> None:
        self._store = store
        self._alerting = alerting
        self._batching = batching  # virtual time: groups nothing reads may batch
        self._clock = clock
        self._flags = flags
        self._config = config
        self._inline = inline  # on a virtual clock: evaluations at their instant, in order
        self._manager: RuleManager | None = None
        self._worker: ThreadPoolExecutor | None = None

    @property
    def manager(self) -> RuleManager:
        if self._manager is None:
            raise RuntimeError("the rules are not running (start them first)")
        return self._manager

    def _settings(self, config: MainConfig) -> RuleSettings:
        g = config.global_
        return settings_from(
            config.rule_files,
            evaluation_interval_ms=g.evaluation_interval_ms,
            query_offset_ms=g.rule_query_offset_ms,
            external_labels=g.external_labels,
            external_url=self._flags.external_url,
        )

    async def start(self) -> None:
        db = self._store.db
        f = self._flags
        manager = RuleManager(
            GroupOptions(
                query=LocalQueryAPI(db.querier, clock=self._clock),
                appender=db.appender,
                querier=db.querier,
                notify=self._alerting.send,
                outage_tolerance_ms=f.for_outage_tolerance_ms,
                for_grace_period_ms=f.for_grace_period_ms,
                resend_delay_ms=f.resend_delay_ms,
                clock=self._clock,
                store_changes=db.changes,
                batching=self._batching,
            ),
            self._clock,
            executor=inline if self._inline else self._evaluate,
        )
        await manager.update(self._settings(self._config))
        self._manager = manager

    async def _evaluate(self, fn: Callable[[], None]) -> None:
        """Evaluations run one at a time in one worker thread, off the event loop. Groups
        side by side in several threads would only take turns holding the GIL, and each
        group's duration would count the others' work."""
        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="rules")
        await asyncio.get_running_loop().run_in_executor(self._worker, fn)

    async def reload(self, config: MainConfig) -> None:
        await self.manager.update(self._settings(config))
        self._config = config

    async def stop(self) -> None:
        manager, self._manager = self._manager, None
        if manager is not None:
            await manager.stop()
        worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.to_thread(worker.shutdown)


class Web:
    """The HTTP server over the store and the scrape service; reloads what it shows of the
    configuration (``/api/v1/status/config``, ``/federate``'s external labels)."""

    name = "web"

    def __init__(
        self,
        settings: ServerSettings,
        store: Store,
        scrape: Scrape,
        alerting: Alerting | None,
        rules: Rules | None,
        autoscaling: Autoscaling | None,
        remote: RemoteWritePart,
        clock: Clock,
        config: MainConfig,
        reload: Reload,
    ) -> None:
        self._settings = settings
        self._store = store
        self._remote = remote
        self._scrape = scrape
        self._alerting = alerting
        self._rules = rules
        self._autoscaling = autoscaling
        self._clock = clock
        self._config = config
        self._reload = reload
        self._runner: web.AppRunner | None = None
        self.status: ServerStatus | None = None
        self.address = ""

    def _app(self) -> web.Application:
        s = self._settings
        storage = self._store.storage
        db = storage.db
        scraping = self._scrape.service
        registry = CollectorRegistry()
        registry.register(storage.collector)
        registry.register(ScrapeCollector(scraping))
        registry.register(
            RemoteWriteCollector(
                lambda: self._remote.queues, storage.samples_in, storage.highest_in_ms
            )
        )
        self.status = ServerStatus(
            config_yaml=lambda: self._config.text,
            tsdb_stats=(lambda limit: head_stats(db.head, limit)) if db is not None else None,
            start_time_ms=self._clock.now_ms(),
            flags=s.flags,
            storage_retention=s.storage_retention,
            corruption_count=(lambda: len(db.corrupt_blocks)) if db is not None else lambda: 0,
        )
        receiver = RemoteWriteReceiver(storage.appender) if s.remote.write_receiver else None
        hpa = self._autoscaling
        if db is None or self._rules is None or self._alerting is None or hpa is None:  # agent
            return build_app(
                registry,
                clock=self._clock,
                targets=scraping,
                status=self.status,
                reload=self._reload,
                web_config=s.web_config,
                limits=s.limits,
                remote_write=receiver,
                agent=True,
            )
        registry.register(RulesCollector(self._rules.manager.groups))
        registry.register(NotifierCollector(self._alerting.notifier))
        # The engine stops a query at its own deadline too, not only the HTTP wait.
        engine = EngineOptions(timeout_s=s.query_timeout_s, max_samples=s.query_max_samples)
        budget = SampleBudget(
            s.query_max_samples_total,
            max_wait_s=s.query_samples_wait_s,
            # Waiters are queries running in the pool: one slot at least never waits.
            max_waiters=max(1, s.query_max_concurrency - 1),
        )
        api = LocalQueryAPI(db.querier, engine, clock=self._clock, budget=budget)
        hpas, cluster = hpa.manager, hpa.cluster
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
            rules=RulesHandlers(self._rules.manager, self._alerting.notifier),
            web_config=s.web_config,
            limits=s.limits,
            kube=KubeHandlers(hpas, cluster, hpas.events, s.feature_gates),
            hpa_view=HPAView(hpas, cluster, hpas.events),
            remote_write=receiver,
            remote_read=RemoteReadHandler(
                db.querier,
                lambda: self._config.global_.external_labels,
                sample_limit=s.remote.read_sample_limit,
                concurrency=s.remote.read_concurrency,
            ),
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
