"""``kubeprom run``: the server. The composition root that wires every part together.

Start order: open the store (replaying the WAL), start the simulated cluster's exporters
(if the config has a ``cluster:``), start scraping, start the HTTP server, then compact
periodically. Stop order (SIGINT/SIGTERM): stop the HTTP server, stop scraping, stop the
exporters, close the store (which syncs the WAL). SIGHUP reloads the scrape configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from kubeprom.clock import RealClock
from kubeprom.config import load_main_config
from kubeprom.config.cluster import load_cluster_config
from kubeprom.config.load import MainConfig
from kubeprom.config.scrape import ClusterSDConfig
from kubeprom.errors import KubepromError
from kubeprom.exporters import ExporterServer, SimulatedCluster
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.scraper.discovery.cluster import cluster_groups
from kubeprom.scraper.discovery.group import TargetGroup
from kubeprom.scraper.fetch import HTTPFetcher
from kubeprom.scraper.service import ScrapeService
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.metrics import TSDBCollector
from kubeprom.web import build_app
from kubeprom.web.query import QueryHandlers

log = logging.getLogger(__name__)

COMPACTION_INTERVAL_S = 60.0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the server: simulated cluster, scraping, store, HTTP API")
    p.add_argument(
        "--config",
        default=None,
        help="configuration file (default: the embedded config/kubeprom.yml)",
    )
    p.add_argument("--listen", default="127.0.0.1:9090", help="address to listen on")
    p.add_argument("--data", default="data", help="data directory (default: ./data)")
    p.add_argument("--retention-time", default="15d", help="how long to keep blocks")
    p.add_argument(
        "--retention-size", type=int, default=None, help="maximum bytes of blocks + WAL to keep"
    )
    # Also accepted before the command (kubeprom --log-level=debug run); this one wins.
    p.add_argument(
        "--log-level",
        default=argparse.SUPPRESS,
        choices=["debug", "info", "warn", "error"],
        help="logging verbosity",
    )
    p.set_defaults(func=run)


def _listen(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise KubepromError(f"--listen: expected HOST:PORT, got {addr!r}")
    return host or "127.0.0.1", int(port)


def _load(path: str | None) -> MainConfig:
    config = load_main_config(path)
    load_cluster_config(path)  # validates the cluster: section with positions
    return config


async def serve(args: argparse.Namespace) -> None:
    config = _load(args.config)
    try:
        retention_ms = parse_duration_ms(args.retention_time)
    except ValueError as err:
        raise KubepromError(f"--retention-time: {err}") from err
    host, port = _listen(args.listen)
    clock = RealClock()
    db = DB.open(args.data, Options(retention_ms=retention_ms, retention_bytes=args.retention_size))
    exporters: ExporterServer | None = None
    fetch = HTTPFetcher()
    runner: web.AppRunner | None = None
    try:
        spec = load_cluster_config(args.config)
        if spec is not None:
            exporters = ExporterServer(SimulatedCluster(spec, start_s=clock.now()), clock=clock)
            await exporters.start()
        served = exporters.targets() if exporters else []

        def discover(sd: ClusterSDConfig) -> list[TargetGroup]:
            return cluster_groups(served, sd.role)

        scraping = ScrapeService(db.appender, clock, fetch, cluster=discover)
        scraping.apply(config)
        scraping.start()

        registry = CollectorRegistry()
        registry.register(TSDBCollector(db))
        queries = QueryHandlers(LocalQueryAPI(db.querier))
        runner = web.AppRunner(build_app(registry, targets=scraping, query=queries))
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        log.info("listening address=%s:%d config=%s data=%s", host, port, config.source, args.data)

        stop, reload = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, reload.set)
        next_compaction = loop.time() + COMPACTION_INTERVAL_S
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            if reload.is_set():
                reload.clear()
                try:
                    scraping.apply(_load(args.config))
                    log.info("configuration reloaded config=%s", config.source)
                except KubepromError as err:
                    log.error("reload failed, keeping the running configuration err=%s", err)
            if loop.time() >= next_compaction:
                next_compaction = loop.time() + COMPACTION_INTERVAL_S
                await asyncio.to_thread(db.compact)
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
        db.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
