"""``kubeprom run``: the server, from the command line to a running :class:`Server`.

This module reads the flags and waits for signals; :mod:`kubeprom.cli.server` assembles
the parts (store, compaction, exporters, scrape, web) and states their start and stop
order. SIGINT/SIGTERM stop the server; SIGHUP and ``POST /-/reload`` reload the
configuration file into the parts that reload.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from kubeprom.cli.server import Server, ServerSettings
from kubeprom.clock import RealClock
from kubeprom.errors import KubepromError
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.tsdb.db import Options
from kubeprom.web import HTTPLimits, WebConfig, load_web_config

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


def _duration_s(text: str, flag: str) -> float:
    try:
        return parse_duration_ms(text) / 1000
    except ValueError as err:
        raise KubepromError(f"{flag}: {err}") from err


def settings_of(args: argparse.Namespace) -> ServerSettings:
    """The server settings the flags give; raises KubepromError for a bad flag value."""
    retention_ms = round(_duration_s(args.retention_time, "--retention-time") * 1000)
    host, port = _listen(args.listen)
    return ServerSettings(
        config_path=args.config,
        data=args.data,
        host=host,
        port=port,
        store=Options(retention_ms=retention_ms, retention_bytes=args.retention_size),
        web_config=load_web_config(args.web_config_file) if args.web_config_file else WebConfig(),
        limits=HTTPLimits(max_body_bytes=args.max_request_bytes),
        admin_api=args.enable_admin_api,
        query_max_concurrency=args.query_max_concurrency,
        query_max_queued=args.query_max_queued,
        query_timeout_s=_duration_s(args.query_timeout, "--query.timeout"),
        flags=_flags(args),
        storage_retention=args.retention_time,
    )


async def serve(args: argparse.Namespace) -> None:
    server = Server(settings_of(args), RealClock())
    stop = asyncio.Event()
    reloads: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()

    async def reload() -> None:
        with contextlib.suppress(KubepromError):  # logged by Server.reload
            await server.reload()

    def on_sighup() -> None:
        task = loop.create_task(reload())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    await server.start()
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await server.stop()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
