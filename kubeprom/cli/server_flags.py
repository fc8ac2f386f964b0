"""``--server`` and ``--http.config.file``: how every command that asks a server builds its
:class:`~kubeprom.web.client.PrometheusClient`.

``--http.config.file`` is promtool's flag and file format (Prometheus' ``http_config``:
basic auth, bearer tokens, TLS; see :mod:`kubeprom.config.http_client`). As promtool does,
credentials in the URL (``http://user:password@host``) and the file exclude each other, and
the file applies to a server only, so it is an error next to ``--data``.
"""

from __future__ import annotations

import argparse
from typing import Any

from kubeprom.config.http_client import load_http_config
from kubeprom.errors import ConfigError
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
