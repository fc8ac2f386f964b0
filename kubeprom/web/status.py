"""``/api/v1/status/*``, ``/api/v1/rules``, ``/api/v1/alerts`` and ``/api/v1/format_query``.

Shapes are Prometheus': ``buildinfo`` carries ``goVersion`` (here the Python version, so
clients that read the field keep working), ``tsdb`` reports the head's cardinality.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import promql_parser
from aiohttp import web

import kubeprom
from kubeprom.errors import APIError, ErrorType, ParseError
from kubeprom.model.timeutil import format_rfc3339_nano
from kubeprom.promql.parse import parse, parser_text
from kubeprom.tsdb.stats import DEFAULT_STATS_LIMIT, Stat, TSDBStats
from kubeprom.web.envelope import success
from kubeprom.web.keys import request_clock
from kubeprom.web.params import form, value


@dataclass(slots=True)
class ServerStatus:
    """What the status endpoints report about the running server.

    ``config_yaml`` returns the configuration file as loaded; ``tsdb_stats(limit)`` the
    head's statistics. ``start_time_ms`` is when the server started (Unix ms, from its
    clock), also the time of the first configuration load. The reload fields are updated
    by whoever reloads the configuration.
    """

    config_yaml: Callable[[], str]
    tsdb_stats: Callable[[int], TSDBStats] | None  # None: agent mode, nothing to report
    start_time_ms: int
    flags: Mapping[str, str] = field(default_factory=dict)
    storage_retention: str = ""
    corruption_count: Callable[[], int] = lambda: 0
    reload_success: bool = True
    last_config_time_ms: int = -1  # -1: the start time

    def __post_init__(self) -> None:
        if self.last_config_time_ms < 0:
            self.last_config_time_ms = self.start_time_ms

    def reloaded(self, *, success: bool, t_ms: int) -> None:
        """Record a reload attempt at ``t_ms``; only a successful one moves the config time."""
        self.reload_success = success
        if success:
            self.last_config_time_ms = t_ms


def _stats_json(stats: list[Stat]) -> list[dict[str, Any]]:
    return [{"name": s.name, "value": s.value} for s in stats]


class StatusHandlers:
    def __init__(self, status: ServerStatus) -> None:
        self.status = status

    async def buildinfo(self, request: web.Request) -> web.Response:
        return success(
            {
                "version": kubeprom.__version__,
                "revision": "",
                "branch": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": f"python{platform.python_version()}",
            }
        )

    async def config(self, request: web.Request) -> web.Response:
        return success({"yaml": self.status.config_yaml()})

    async def flags(self, request: web.Request) -> web.Response:
        return success(dict(self.status.flags))

    async def runtimeinfo(self, request: web.Request) -> web.Response:
        s = self.status
        return success(
            {
                "startTime": format_rfc3339_nano(s.start_time_ms),
                "CWD": os.getcwd(),
                "hostname": socket.gethostname(),
                "serverTime": format_rfc3339_nano(request_clock(request).now_ms()),
                "reloadConfigSuccess": s.reload_success,
                "lastConfigTime": format_rfc3339_nano(s.last_config_time_ms),
                "corruptionCount": s.corruption_count(),
                "goroutineCount": len(asyncio.all_tasks()),
                "GOMAXPROCS": os.cpu_count() or 1,
                "GOMEMLIMIT": 0,
                "GOGC": "",
                "GODEBUG": "",
                "storageRetention": s.storage_retention,
            }
        )

    async def tsdb(self, request: web.Request) -> web.Response:
        params = await form(request)
        text = value(params, "limit")
        limit = DEFAULT_STATS_LIMIT
        if text:
            try:
                limit = int(text)
            except ValueError:
                limit = 0
            if limit < 1:
                raise APIError(ErrorType.BAD_DATA, "limit must be a positive number")
        stats = self.status.tsdb_stats
        if stats is None:
            raise APIError(ErrorType.EXECUTION, "unavailable with Prometheus Agent")
        st = await asyncio.to_thread(stats, limit)
        h = st.head
        return success(
            {
                "headStats": {
                    "numSeries": h.num_series,
                    "numLabelPairs": h.num_label_pairs,
                    "chunkCount": h.chunk_count,
                    "minTime": h.min_time,
                    "maxTime": h.max_time,
                },
                "seriesCountByMetricName": _stats_json(st.series_count_by_metric_name),
                "labelValueCountByLabelName": _stats_json(st.label_value_count_by_label_name),
                "memoryInBytesByLabelName": _stats_json(st.memory_in_bytes_by_label_name),
                "seriesCountByLabelValuePair": _stats_json(st.series_count_by_label_value_pair),
            }
        )

    async def walreplay(self, request: web.Request) -> web.Response:
        # The WAL is replayed before the server listens, so replay is always complete.
        return success({"min": 0, "max": 0, "current": 0})

    def add_routes(self, app: web.Application) -> None:
        for path, handler in (
            ("/api/v1/status/buildinfo", self.buildinfo),
            ("/api/v1/status/config", self.config),
            ("/api/v1/status/flags", self.flags),
            ("/api/v1/status/runtimeinfo", self.runtimeinfo),
            ("/api/v1/status/walreplay", self.walreplay),
        ):
            app.router.add_get(path, handler)
        if self.status.tsdb_stats is not None:  # agent mode answers it elsewhere
            app.router.add_get("/api/v1/status/tsdb", self.tsdb)


async def no_rules(request: web.Request) -> web.Response:
    """A server without a rule manager has no rule groups."""
    return success({"groups": []})


async def no_alerts(request: web.Request) -> web.Response:
    return success({"alerts": []})


async def no_alertmanagers(request: web.Request) -> web.Response:
    return success({"activeAlertmanagers": [], "droppedAlertmanagers": []})


async def query_exemplars(request: web.Request) -> web.Response:
    """Exemplars are not stored: a valid query gets an empty list, as from a store without any."""
    params = await form(request)
    try:
        parse(value(params, "query"))
    except ParseError as err:
        raise APIError(ErrorType.BAD_DATA, str(err)) from err
    return success([])


async def format_query(request: web.Request) -> web.Response:
    """The query pretty-printed (Prometheus' ``expr.Pretty(0)``)."""
    params = await form(request)
    query = value(params, "query")
    try:
        parse(query)  # for Prometheus' error text and position
        text: str = promql_parser.parse(parser_text(query)).prettify()
    except ParseError as err:
        raise APIError(ErrorType.BAD_DATA, f'invalid parameter "query": {err}') from err
    return success(text)


def add_routes(app: web.Application, *, with_rules: bool = True) -> None:
    """The endpoints that need no server state (``with_rules``: the empty rule endpoints, for a
    server without a rule manager)."""
    if with_rules:
        app.router.add_get("/api/v1/rules", no_rules)
        app.router.add_get("/api/v1/alerts", no_alerts)
        app.router.add_get("/api/v1/alertmanagers", no_alertmanagers)
    for path, handler in (
        ("/api/v1/query_exemplars", query_exemplars),
        ("/api/v1/format_query", format_query),
    ):
        app.router.add_get(path, handler)
        app.router.add_post(path, handler)
