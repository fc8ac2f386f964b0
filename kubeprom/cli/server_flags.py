"""``--server`` and ``--http.config.file``: how every command that asks a server builds its
:class:`~kubeprom.web.client.PrometheusClient`.

``--http.config.file`` is promtool's flag and file format (Prometheus' ``http_config``:
basic auth, bearer tokens, TLS; see :mod:`kubeprom.config.http_client`). As promtool does,
credentials in the URL (``http://user:password@host``) and the file exclude each other, and
the file applies to a server only, so it is an error next to ``--data``.

:func:`open_query_api` is the one way a command reads either a server or ``--data`` (a data
directory opened read-only, so it works beside a running server), at ``--time``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubeprom.clock import Clock
from kubeprom.config.http_client import load_http_config
from kubeprom.errors import ConfigError, KubepromError, StorageError
from kubeprom.model.timeutil import parse_rfc3339_ms
from kubeprom.promql.api import LocalQueryAPI, QueryAPI
from kubeprom.tsdb import DB, MIN_TIME
from kubeprom.web.client import PrometheusClient, has_credentials

FLAG = "--http.config.file"


def add_http_config_flag(group: Any) -> None:
    """Register ``--http.config.file`` on a parser or argument group."""
    group.add_argument(
        FLAG,
        dest="http_config_file",
        default=None,
        metavar="FILE",
        help="HTTP client configuration for --server (basic_auth, authorization, tls_config), "
        "in Prometheus' http_config format, as promtool's flag",
    )


def check_http_config_flag(args: argparse.Namespace) -> None:
    """The flag makes sense with a server only."""
    if args.http_config_file is not None and getattr(args, "data", None) is not None:
        raise ConfigError(f"{FLAG} applies to --server, not to --data")


def server_client(args: argparse.Namespace, *, timeout_s: float) -> PrometheusClient:
    """The client ``--server`` and ``--http.config.file`` describe; raises ConfigError."""
    check_http_config_flag(args)
    http = None
    if args.http_config_file is not None:
        if has_credentials(args.server):
            raise ConfigError(
                f"cannot set basic auth in the server URL and use {FLAG} at the same time"
            )
        http = load_http_config(args.http_config_file)
    return PrometheusClient(args.server, http, timeout_s=timeout_s)


def parse_time_flag(text: str, error: type[KubepromError] = KubepromError) -> int:
    """``--time``: RFC 3339 or Unix seconds, to ms."""
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        return parse_rfc3339_ms(text)
    except ValueError:
        raise error(f"invalid --time {text!r}: expected RFC 3339 or Unix seconds") from None


@contextmanager
def open_query_api(
    args: argparse.Namespace,
    clock: Clock,
    *,
    timeout_s: float,
    error: type[KubepromError] = KubepromError,
) -> Iterator[tuple[QueryAPI, int]]:
    """The query API ``--server`` or ``--data`` names, and the evaluation time: ``--time``;
    else the newest sample of ``--data``; else the clock's now. ``error`` is the class a
    missing or unreadable data directory raises (``kubeprom top`` prints its own)."""
    t_ms = parse_time_flag(args.time, error) if args.time is not None else None
    check_http_config_flag(args)
    if args.data is None:
        yield server_client(args, timeout_s=timeout_s), clock.now_ms() if t_ms is None else t_ms
        return
    path = Path(args.data)
    if not path.is_dir():
        raise error(f"data directory {args.data!r} does not exist")
    try:
        db = DB.open_read_only(path)
    except StorageError as err:
        raise error(str(err)) from err
    try:
        if t_ms is None:
            newest = db.newest_time()
            t_ms = newest if newest != MIN_TIME else clock.now_ms()
        yield LocalQueryAPI(db.querier), t_ms
    finally:
        db.close()
