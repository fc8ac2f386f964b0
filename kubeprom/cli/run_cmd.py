"""``kubeprom run``: the server. The composition root that wires every part together.

Start order: read the web config, open the store (replaying the WAL; ``--agent``: the
WAL-only store), start remote write (its queues resume from their saved WAL positions),
start the simulated cluster's exporters (if the config has a ``cluster:``), start scraping,
the notifier and the rule groups (not in agent mode), start the HTTP server, then compact
(agent: truncate the WAL) periodically. Stop order (SIGINT/SIGTERM): stop the HTTP server,
stop scraping, stop the rules, stop the notifier, stop the exporters, flush remote write,
close the store (which syncs the WAL). SIGHUP and ``POST /-/reload`` reload the scrape,
alerting and rule configuration; a broken rule file keeps the running rules.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from kubeprom.cli.run_storage import check_agent_config, open_storage
from kubeprom.clock import RealClock
from kubeprom.config import load_main_config
from kubeprom.config.cluster import load_cluster_config
from kubeprom.config.load import MainConfig
from kubeprom.config.scrape import ClusterSDConfig
from kubeprom.errors import KubepromError
from kubeprom.exporters import ExporterServer, SimulatedCluster
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.remote.metrics import RemoteWriteCollector
from kubeprom.remote.service import RemoteWrite
from kubeprom.rules.alerting import Alert
from kubeprom.rules.group import GroupOptions
from kubeprom.rules.manager import RuleManager, RuleSettings, settings_from
from kubeprom.rules.metrics import NotifierCollector, RulesCollector
from kubeprom.rules.notifier import DEFAULT_QUEUE_CAPACITY, Notifier, notifications
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.fetch import HTTPFetcher
from kubeprom.scraper.metrics import ScrapeCollector
from kubeprom.scraper.service import ScrapeService
from kubeprom.tsdb.stats import head_stats
from kubeprom.web import (
    AdminHandlers,
    FederateHandler,
    HTTPLimits,
    QueryHandlers,
    RulesHandlers,
    SeriesHandlers,
    ServerStatus,
    WebConfig,
    build_app,
    load_web_config,
    start_server,
)
from kubeprom.web.remote import RemoteReadHandler, RemoteWriteReceiver

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the server: simulated cluster, scraping, store, HTTP API")
    p.add_argument(
        "--config",
        default=None,
        help="configuration file (default: the embedded config/kubeprom.yml)",
    )
    p.add_argument(
        "--listen",
        "--web.listen-address",
        dest="listen",
        default="127.0.0.1:9090",
        help="address to listen on (default: 127.0.0.1:9090)",
    )
    p.add_argument("--data", default="data", help="data directory (default: ./data)")
    p.add_argument("--retention-time", default="15d", help="how long to keep blocks")
    p.add_argument(
        "--retention-size", type=int, default=None, help="maximum bytes of blocks + WAL to keep"
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="web configuration (Prometheus format): TLS and basic auth",
    )
    p.add_argument(
        "--enable-admin-api",
        "--web.enable-admin-api",
        dest="enable_admin_api",
        action="store_true",
        help="serve /api/v1/admin/tsdb/* (snapshot, delete_series, clean_tombstones)",
    )
    p.add_argument(
        "--query.max-concurrency",
        dest="query_max_concurrency",
        type=_positive,
        default=20,
        help="queries evaluated at once (default: 20)",
    )
    p.add_argument(
        "--query.max-queued",
        dest="query_max_queued",
        type=_non_negative,
        default=100,
        help="queries waiting for a slot before more get 503 (default: 100)",
    )
    p.add_argument(
        "--query.timeout",
        dest="query_timeout",
        default="2m",
        help="maximum time a query may take (default: 2m)",
    )
    p.add_argument(
        "--agent",
        "--enable-feature=agent",
        dest="agent",
        action="store_true",
        help="agent mode: scrape, WAL and remote write only; nothing can be queried",
    )
    p.add_argument(
        "--web.enable-remote-write-receiver",
        dest="remote_write_receiver",
        action="store_true",
        help="accept remote write requests on /api/v1/write",
    )
    p.add_argument(
        "--storage.remote.read-sample-limit",
        dest="remote_read_sample_limit",
        type=_non_negative,
        default=50_000_000,
        help="most samples one remote read query may return, 0 for no limit (default: 5e7)",
    )
    p.add_argument(
        "--storage.remote.read-concurrent-limit",
        dest="remote_read_concurrency",
        type=_positive,
        default=10,
        help="remote read queries served at once (default: 10)",
    )
    p.add_argument(
        "--storage.remote.flush-deadline",
        dest="remote_flush_deadline",
        default="1m",
        help="how long to wait flushing remote-write queues on shutdown or reload (default: 1m)",
    )
    p.add_argument(
        "--web.max-request-bytes",
        dest="max_request_bytes",
        type=_positive,
        default=HTTPLimits().max_body_bytes,
        help="largest request body accepted, larger gets 413 (default: 10 MiB)",
    )
    p.add_argument(
        "--web.external-url",
        dest="external_url",
        default="",
        help="the URL under which kubeprom is reached (alert generator URLs, templates)",
    )
    p.add_argument(
        "--rules.alert.for-outage-tolerance",
        dest="for_outage_tolerance",
        default="1h",
        help="max time to tolerate an outage when restoring the 'for' state of alerts",
    )
    p.add_argument(
        "--rules.alert.for-grace-period",
        dest="for_grace_period",
        default="10m",
        help="minimum time between an alert's restored 'for' state and it firing",
    )
    p.add_argument(
        "--rules.alert.resend-delay",
        dest="resend_delay",
        default="1m",
        help="minimum time to wait before resending an alert to Alertmanager",
    )
    p.add_argument(
        "--alertmanager.notification-queue-capacity",
        dest="notification_queue_capacity",
        type=_positive,
        default=DEFAULT_QUEUE_CAPACITY,
        help="alerts queued per Alertmanager; the oldest are dropped beyond it (default: 10000)",
    )
    # Also accepted before the command (kubeprom --log-level=debug run); this one wins.
    p.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["debug", "info", "warn", "error"],
        help="logging verbosity",
    )
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


# Flag names as /api/v1/status/flags reports them, by argparse dest.
_FLAG_NAMES = {
    "config": "config.file",
    "listen": "web.listen-address",
    "data": "storage.tsdb.path",
    "retention_time": "storage.tsdb.retention.time",
    "retention_size": "storage.tsdb.retention.size",
    "web_config_file": "web.config.file",
    "enable_admin_api": "web.enable-admin-api",
    "query_max_concurrency": "query.max-concurrency",
    "query_max_queued": "query.max-queued",
    "query_timeout": "query.timeout",
    "max_request_bytes": "web.max-request-bytes",
    "external_url": "web.external-url",
    "for_outage_tolerance": "rules.alert.for-outage-tolerance",
    "for_grace_period": "rules.alert.for-grace-period",
    "resend_delay": "rules.alert.resend-delay",
    "notification_queue_capacity": "alertmanager.notification-queue-capacity",
    "remote_flush_deadline": "storage.remote.flush-deadline",
    "remote_write_receiver": "web.enable-remote-write-receiver",
    "agent": "agent",
    "remote_read_sample_limit": "storage.remote.read-sample-limit",
    "remote_read_concurrency": "storage.remote.read-concurrent-limit",
}


def _flags(args: argparse.Namespace) -> dict[str, str]:
    out = {}
    for dest, name in _FLAG_NAMES.items():
        value = getattr(args, dest, None)
        out[name] = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
    return out


def _listen(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise KubepromError(f"--listen: expected HOST:PORT, got {addr!r}")
    return host or "127.0.0.1", int(port)


def _load(path: str | None) -> MainConfig:
    config = load_main_config(path)
    load_cluster_config(path)  # validates the cluster: section with positions
    return config


def _rule_settings(config: MainConfig, external_url: str) -> RuleSettings:
    g = config.global_
    return settings_from(
        config.rule_files,
        evaluation_interval_ms=g.evaluation_interval_ms,
        query_offset_ms=g.rule_query_offset_ms,
        external_labels=g.external_labels,
        external_url=external_url,
    )


def _duration_s(text: str, flag: str) -> float:
    try:
        return parse_duration_ms(text) / 1000
    except ValueError as err:
        raise KubepromError(f"{flag}: {err}") from err


async def serve(args: argparse.Namespace) -> None:
    config = _load(args.config)
    if args.agent:
        check_agent_config(config)
    flush_deadline_s = _duration_s(args.remote_flush_deadline, "--storage.remote.flush-deadline")
    retention_ms = round(_duration_s(args.retention_time, "--retention-time") * 1000)
    query_timeout_s = _duration_s(args.query_timeout, "--query.timeout")
    host, port = _listen(args.listen)
    outage_ms = round(
        _duration_s(args.for_outage_tolerance, "--rules.alert.for-outage-tolerance") * 1000
    )
    grace_ms = round(_duration_s(args.for_grace_period, "--rules.alert.for-grace-period") * 1000)
    resend_ms = round(_duration_s(args.resend_delay, "--rules.alert.resend-delay") * 1000)
    external_url = args.external_url.rstrip("/")
    web_config = load_web_config(args.web_config_file) if args.web_config_file else WebConfig()
    limits = HTTPLimits(max_body_bytes=args.max_request_bytes)
    clock = RealClock()
    store = open_storage(args, retention_ms)
    db = store.db
    remote = RemoteWrite(
        Path(args.data),
        clock,
        samples_in=store.samples_in,
        highest_in_ms=store.highest_in_ms,
        metadata=store.metadata_entries,
        flush_deadline_s=flush_deadline_s,
    )
    remote_started = False
    exporters: ExporterServer | None = None
    fetch = HTTPFetcher()
    runner: web.AppRunner | None = None
    notifier: Notifier | None = None
    rules: RuleManager | None = None
    scraping: ScrapeService | None = None
    try:
        if store.wal is not None:
            store.wal.keep_segments_from(remote.wal_floor)
        await remote.apply(config.remote_write, config.global_.external_labels)
        remote_started = True
        spec = load_cluster_config(args.config)
        if spec is not None:
            exporters = ExporterServer(SimulatedCluster(spec, start_s=clock.now()), clock=clock)
            await exporters.start()
        served = exporters.targets() if exporters else []

        def discover(sd: ClusterSDConfig) -> list[TargetGroup]:
            return cluster_groups(served, sd.role)

        scraper = scraping = ScrapeService(store.appender, clock, fetch, cluster=discover)
        scraper.apply(config)
        scraper.start()

        registry = CollectorRegistry()
        registry.register(store.collector)
        registry.register(ScrapeCollector(scraper))
        registry.register(
            RemoteWriteCollector(lambda: remote.queues, store.samples_in, store.highest_in_ms)
        )
        if db is not None:
            notifier = Notifier(queue_capacity=args.notification_queue_capacity)
            notifier.apply(config)
            sender = notifier

            def notify(expr: str, alerts: list[Alert]) -> None:
                sender.send(notifications(expr, alerts, external_url))

            rules = RuleManager(
                GroupOptions(
                    query=LocalQueryAPI(db.querier),
                    appender=db.appender,
                    querier=db.querier,
                    notify=notify,
                    outage_tolerance_ms=outage_ms,
                    for_grace_period_ms=grace_ms,
                    resend_delay_ms=resend_ms,
                ),
                clock,
                executor=asyncio.to_thread,
            )
            await rules.update(_rule_settings(config, external_url))
            registry.register(RulesCollector(rules.groups))
            registry.register(NotifierCollector(sender))
        status = ServerStatus(
            config_yaml=lambda: config.text,
            tsdb_stats=(lambda limit: head_stats(db.head, limit)) if db is not None else None,
            flags=_flags(args),
            storage_retention=args.retention_time,
            corruption_count=(lambda: len(db.corrupt_blocks)) if db is not None else lambda: 0,
        )

        async def reload() -> None:
            nonlocal config
            try:
                new = _load(args.config)
                if args.agent:
                    check_agent_config(new)
                if rules is not None:
                    await rules.update(_rule_settings(new, external_url))
                scraper.apply(new)
                if notifier is not None:
                    notifier.apply(new)
                await remote.apply(new.remote_write, new.global_.external_labels)
            except KubepromError as err:
                status.reloaded(success=False)
                log.error("reload failed, keeping the running configuration err=%s", err)
                raise
            config = new
            status.reloaded(success=True)
            log.info("configuration reloaded config=%s", config.source)

        receiver = RemoteWriteReceiver(store.appender) if args.remote_write_receiver else None
        if db is None or rules is None or notifier is None:
            app = build_app(
                registry,
                targets=scraper,
                status=status,
                reload=reload,
                web_config=web_config,
                limits=limits,
                remote_write=receiver,
                agent=True,
            )
        else:
            app = build_app(
                registry,
                targets=scraper,
                query=QueryHandlers(
                    LocalQueryAPI(db.querier),
                    max_concurrency=args.query_max_concurrency,
                    max_queued=args.query_max_queued,
                    default_timeout_s=query_timeout_s,
                ),
                series=SeriesHandlers(db.querier, targets=scraper),
                status=status,
                federate=FederateHandler(
                    db.querier, external_labels=lambda: config.global_.external_labels
                ),
                admin=AdminHandlers(db if args.enable_admin_api else None),
                reload=reload,
                rules=RulesHandlers(rules, notifier),
                web_config=web_config,
                limits=limits,
                remote_write=receiver,
                remote_read=RemoteReadHandler(
                    db.querier,
                    lambda: config.global_.external_labels,
                    sample_limit=args.remote_read_sample_limit or 2**62,
                    concurrency=args.remote_read_concurrency,
                ),
            )
        runner = await start_server(app, host, port, web_config=web_config, limits=limits)
        log.info(
            "listening address=%s://%s:%d config=%s data=%s",
            "https" if web_config.tls else "http",
            host,
            port,
            config.source,
            args.data,
        )

        stop, sighup = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, sighup.set)
        next_compaction = loop.time() + store.maintain_interval_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if sighup.is_set():
                sighup.clear()
                with contextlib.suppress(KubepromError):  # logged by reload()
                    await reload()
            if loop.time() >= next_compaction:
                next_compaction = loop.time() + store.maintain_interval_s
                await asyncio.to_thread(store.maintain)
        log.info("shutting down")
        if runner is not None:
            await runner.cleanup()
            runner = None
    finally:
        if runner is not None:
            await runner.cleanup()
        if scraping is not None:
            await scraping.stop()
        if rules is not None:
            await rules.stop()
        if notifier is not None:
            await notifier.stop()
        await fetch.close()
        if exporters is not None:
            await exporters.stop()
        if remote_started:
            await remote.stop()  # after everything that appends: it reads the WAL to its end
        store.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
