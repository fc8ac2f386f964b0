"""``kubeprom rules backtest RULEFILE... (--data DIR | --server URL) --start T --end T``.

Evaluates rule files over stored history (:mod:`kubeprom.rules.backtest`): from a data
directory (opened read-only) or any Prometheus-compatible server (``--server``, with
``--http.config.file`` for credentials and TLS). Prints a table of alert episodes (when each
alert and label set was pending, firing, resolved), or JSON with ``-o json``; ``--plot
FILE.png`` also draws a timeline per alert. Times are RFC 3339 or Unix seconds; ``--step``
evaluates every group at that interval instead of its own. Exits 1 when a rule failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from kubeprom.cli.server_flags import add_http_config_flag, server_client
from kubeprom.errors import APIError, ConfigError
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.promql.api import LocalQueryAPI, QueryAPI
from kubeprom.rules import backtest_report as report
from kubeprom.rules.backtest import DEFAULT_CHUNK_STEPS, Backtest, BacktestOptions
from kubeprom.rules.backtest_source import QueryAPIQuerier
from kubeprom.tsdb.api import Querier
from kubeprom.tsdb.db import DB
from kubeprom.web.params import parse_time

HTTP_TIMEOUT_S = 130.0  # a little over a server's default query timeout (2m)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("rules", help="work with rule files over stored history")
    kinds = p.add_subparsers(dest="rules_command", metavar="WHAT", required=True)
    b = kinds.add_parser(
        "backtest", help="when the alerts of rule files would have been pending and firing"
    )
    b.add_argument("files", nargs="+", metavar="RULEFILE")
    where = b.add_mutually_exclusive_group(required=True)
    where.add_argument("--data", metavar="DIR", help="read this data directory")
    where.add_argument("--server", metavar="URL", help="ask this Prometheus-compatible server")
    add_http_config_flag(b)
    b.add_argument("--start", required=True, help="start (RFC 3339 or Unix seconds)")
    b.add_argument("--end", required=True, help="end (RFC 3339 or Unix seconds)")
    b.add_argument("--step", help="evaluate every group at this interval (default: its own)")
    b.add_argument("-o", "--output", choices=["table", "json"], default="table")
    b.add_argument("--plot", metavar="FILE.png", help="also draw a timeline per alert")
    b.add_argument(
        "--external-label",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an external label the templates see as $externalLabels (repeatable)",
    )
    b.add_argument("--external-url", default="", help="$externalURL for the templates")
    b.add_argument(
        "--chunk-steps",
        type=int,
        default=DEFAULT_CHUNK_STEPS,
        help="evaluation steps per range query (default: %(default)s)",
    )
    b.set_defaults(func=run_backtest)


def _time(text: str, name: str) -> int:
    try:
        return parse_time(text, name)
    except APIError as err:
        raise ConfigError(f"--{name}: cannot parse {text!r} as a time") from err


def run_backtest(args: argparse.Namespace) -> int:
    labels = {}
    for item in args.external_label:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--external-label: expected NAME=VALUE, got {item!r}")
        labels[name] = value
    try:
        step = parse_duration_ms(args.step) if args.step else 0
    except ValueError as err:
        raise ConfigError(f"--step: {err}") from err
    options = BacktestOptions(
        _time(args.start, "start"),
        _time(args.end, "end"),
        step,
        labels,
        args.external_url,
        args.chunk_steps,
    )
    query: QueryAPI
    querier: Any
    db = None
    if args.data is not None:
        if args.http_config_file is not None:
            raise ConfigError("--http.config.file applies to --server, not to --data")
        db = DB.open_read_only(args.data)
        query = LocalQueryAPI(db.querier)
        querier = db.querier
    else:
        client = server_client(args, timeout_s=HTTP_TIMEOUT_S)
        query = client
        remote = QueryAPIQuerier(client)

        def querier() -> Querier:
            return remote

    try:
        result = Backtest(query, querier, options, local=db is not None).run(args.files)
    finally:
        if db is not None:
            db.close()
    if args.output == "json":
        print(json.dumps(report.to_json(result), indent=1))
    else:
        for line in report.table_lines(result):
            print(line)
    if args.plot:
        shown = report.plot(result, args.plot)
        print(f"wrote {args.plot} ({shown} alerts)", file=sys.stderr)
    return 1 if any(r.error for r in result.rules) else 0
