"""``kubeprom run``: the server. The composition root that wires every part together.

Start order: read the web config, open the store (replaying the WAL), start remote write
(its queues resume from their saved WAL positions), start the simulated cluster's exporters
(if the config has a ``cluster:``), start scraping, start the HTTP server, then compact
periodically. Stop order (SIGINT/SIGTERM): stop the HTTP server, stop scraping, stop the
exporters, flush remote write, close the store (which syncs the WAL). SIGHUP and
``POST /-/reload`` reload the scrape configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

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
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.fetch import HTTPFetcher
from kubeprom.scraper.metrics import ScrapeCollector
from kubeprom.scraper.service import ScrapeService
from kubeprom.tsdb.agent import DEFAULT_TRUNCATE_INTERVAL_S, AgentDB
from kubeprom.tsdb.api import Appender, MetricMetadata
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.metrics import AgentCollector, TSDBCollector
from kubeprom.tsdb.stats import head_stats
from kubeprom.tsdb.wal import WAL
from kubeprom.web import (
    AdminHandlers,
    FederateHandler,
    HTTPLimits,
    QueryHandlers,
    SeriesHandlers,
    ServerStatus,
    WebConfig,
    build_app,
    load_web_config,
    start_server,
)
from kubeprom.web.remote import RemoteReadHandler, RemoteWriteReceiver

log = logging.getLogger(__name__)

COMPACTION_INTERVAL_S = 60.0


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


def _duration_s(text: str, flag: str) -> float:
    try:
        return parse_duration_ms(text) / 1000
    except ValueError as err:
        raise KubepromError(f"{flag}: {err}") from err


@dataclass(frozen=True, slots=True)
class _Storage:
    """The store as the rest of the server sees it: the full DB, or the agent's WAL store."""

    appender: Callable[[], Appender]
    samples_in: Callable[[], int]
    highest_in_ms: Callable[[], int]
    metadata: Callable[[], dict[str, MetricMetadata]]
    wal: WAL | None
    collector: Collector
    maintain: Callable[[], object]  # compaction (full) or WAL truncation (agent)
    maintain_interval_s: float
    close: Callable[[], None]
    db: DB | None  # None in agent mode: nothing can be queried


def _open_storage(args: argparse.Namespace, retention_ms: int) -> _Storage:
    if args.agent:
        agent = AgentDB.open(args.data)
        return _Storage(
            appender=agent.appender,
            samples_in=lambda: agent.stats.appended,
            highest_in_ms=lambda: agent.maxt,
            metadata=lambda: agent.metadata,
            wal=agent.wal,
            collector=AgentCollector(agent),
            maintain=agent.truncate,
            maintain_interval_s=DEFAULT_TRUNCATE_INTERVAL_S,
            close=agent.close,
            db=None,
        )
    db = DB.open(args.data, Options(retention_ms=retention_ms, retention_bytes=args.retention_size))
    return _Storage(
        appender=db.appender,
        samples_in=lambda: db.stats.appended,
        highest_in_ms=lambda: db.head.maxt,
        metadata=lambda: db.head.metadata,
        wal=db.wal,
        collector=TSDBCollector(db),
        maintain=db.compact,
        maintain_interval_s=COMPACTION_INTERVAL_S,
        close=db.close,
        db=db,
    )


def _check_agent_config(config: MainConfig) -> None:
    """Prometheus' agent-mode checks (config.LoadFile with agentMode)."""
    if config.alerting.alertmanagers or config.alerting.alert_relabel_configs:
        raise KubepromError(
            f"parsing YAML file {config.source}: field alerting is not allowed in agent mode"
        )
    if config.rule_files:
        raise KubepromError(
            f"parsing YAML file {config.source}: field rule_files is not allowed in agent mode"
        )


async def serve(args: argparse.Namespace) -> None:
    config = _load(args.config)
    if args.agent:
        _check_agent_config(config)
    retention_ms = round(_duration_s(args.retention_time, "--retention-time") * 1000)
    query_timeout_s = _duration_s(args.query_timeout, "--query.timeout")
    flush_deadline_s = _duration_s(args.remote_flush_deadline, "--storage.remote.flush-deadline")
    host, port = _listen(args.listen)
    web_config = load_web_config(args.web_config_file) if args.web_config_file else WebConfig()
    limits = HTTPLimits(max_body_bytes=args.max_request_bytes)
    clock = RealClock()
    store = _open_storage(args, retention_ms)
    db = store.db
    exporters: ExporterServer | None = None
    fetch = HTTPFetcher()
    runner: web.AppRunner | None = None
    remote = RemoteWrite(
        Path(args.data),
        clock,
        samples_in=store.samples_in,
        highest_in_ms=store.highest_in_ms,
        metadata=lambda: [
            (name, m.type.value, m.help, m.unit) for name, m in sorted(store.metadata().items())
        ],
        flush_deadline_s=flush_deadline_s,
    )
    remote_started = False
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

        scraping = ScrapeService(store.appender, clock, fetch, cluster=discover)
        scraping.apply(config)
        scraping.start()

        registry = CollectorRegistry()
        registry.register(store.collector)
        registry.register(ScrapeCollector(scraping))
        registry.register(
            RemoteWriteCollector(lambda: remote.queues, store.samples_in, store.highest_in_ms)
        )
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
                    _check_agent_config(new)
                scraping.apply(new)
                await remote.apply(new.remote_write, new.global_.external_labels)
            except KubepromError as err:
                status.reloaded(success=False)
                log.error("reload failed, keeping the running configuration err=%s", err)
                raise
            config = new
            status.reloaded(success=True)
            log.info("configuration reloaded config=%s", config.source)

        receiver = RemoteWriteReceiver(store.appender) if args.remote_write_receiver else None
        if db is None:
            app = build_app(
                registry,
                targets=scraping,
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
                targets=scraping,
                query=QueryHandlers(
                    LocalQueryAPI(db.querier),
                    max_concurrency=args.query_max_concurrency,
                    max_queued=args.query_max_queued,
                    default_timeout_s=query_timeout_s,
                ),
                series=SeriesHandlers(db.querier, targets=scraping),
                status=status,
                federate=FederateHandler(
                    db.querier, external_labels=lambda: config.global_.external_labels
                ),
                admin=AdminHandlers(db if args.enable_admin_api else None),
                reload=reload,
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
        await scraping.stop()
    finally:
        if runner is not None:
            await runner.cleanup()
        await fetch.close()
        if exporters is not None:
            await exporters.stop()
        # Stop order: scraping (above), then remote write flushes, then the store closes.
        if remote_started:
            await remote.stop()
        store.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
