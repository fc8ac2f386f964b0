"""``kubeprom run``: the server. The composition root that wires store and HTTP together.

Start order: open the store (replaying the WAL), start the HTTP server, start the periodic
compaction. Stop order (SIGINT/SIGTERM): stop the HTTP server, stop compaction, close the
store (which syncs the WAL).
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

from kubeprom.config import load_main_config
from kubeprom.errors import KubepromError
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.tsdb.db import DB, Options
from kubeprom.tsdb.metrics import TSDBCollector
from kubeprom.web import build_app

log = logging.getLogger(__name__)

COMPACTION_INTERVAL_S = 60.0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("run", help="run the server (store + HTTP API)")
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
    p.set_defaults(func=run)


def _listen(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise KubepromError(f"--listen: expected HOST:PORT, got {addr!r}")
    return host or "127.0.0.1", int(port)


async def serve(args: argparse.Namespace) -> None:
    config = load_main_config(args.config)
    try:
        retention_ms = parse_duration_ms(args.retention_time)
    except ValueError as err:
        raise KubepromError(f"--retention-time: {err}") from err
    host, port = _listen(args.listen)
    db = DB.open(args.data, Options(retention_ms=retention_ms, retention_bytes=args.retention_size))
    registry = CollectorRegistry()
    registry.register(TSDBCollector(db))
    runner = web.AppRunner(build_app(registry))
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("listening address=%s:%d config=%s data=%s", host, port, config.source, args.data)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), COMPACTION_INTERVAL_S)
            if not stop.is_set():
                await asyncio.to_thread(db.compact)
    finally:
        log.info("shutting down")
        await runner.cleanup()
        db.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
