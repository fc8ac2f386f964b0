"""``/ui/api/top``: the ``kubeprom top node`` and ``top pod`` tables for the Top page.

The same code as the command (:mod:`kubeprom.top`): the PromQL of :mod:`kubeprom.top.queries`
through the server's query seam, kubectl's checks and errors, kubectl's cells. The answer is
the table as rows of cell texts plus the PromQL it ran, in the API's envelope; kubectl's
errors (``metrics not available yet``) come back as ``execution`` errors with kubectl's line.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict

from kubeprom.clock import Clock
from kubeprom.errors import APIError, ErrorType, PromQLError, QueryAPIUnavailable
from kubeprom.promql.api import QueryAPI
from kubeprom.top import (
    Extras,
    MetricsSource,
    NodeRequest,
    PodRequest,
    Queries,
    TopError,
    parse_sort_by,
    top_node,
    top_pod,
)
from kubeprom.top.table import node_cells, pod_cells, rows
from kubeprom.web.envelope import success
from kubeprom.web.params import form, value


@dataclass(frozen=True, slots=True)
class Table:
    """A table as kubectl lays it out: ``rows[0]`` is the header line."""

    rows: list[list[str]]
    notice: str | None
    queries: list[str]


def _flag(params: MultiDict[str], name: str) -> bool:
    text = value(params, name)
    if text not in ("", "0", "1", "true", "false"):
        raise APIError(ErrorType.BAD_DATA, f"invalid parameter {name!r}: {text!r}")
    return text in ("1", "true")


def node_table(source: MetricsSource, params: MultiDict[str]) -> Table:
    wide = _flag(params, "wide")
    req = NodeRequest(
        value(params, "name"),
        value(params, "selector"),
        _flag(params, "show_capacity"),
        allocated=wide,
    )
    result = top_node(source, req)
    cells = node_cells(
        result.metrics,
        result.available,
        sort_by=parse_sort_by(value(params, "sort_by")),
        extras=Extras(wide=wide),
        allocated=result.allocated,
    )
    q = source.queries.node_usage()
    return Table(rows(cells), None, [q.cpu, q.memory])


def pod_table(source: MetricsSource, params: MultiDict[str]) -> Table:
    extras = Extras(wide=_flag(params, "wide"), utilization=_flag(params, "utilization"))
    namespace = value(params, "namespace")
    req = PodRequest(
        value(params, "name"),
        namespace or "default",
        all_namespaces=not namespace,
        selector=value(params, "selector"),
        resources=extras.any,
    )
    result = top_pod(source, req)
    cells = pod_cells(
        result.metrics,
        containers=_flag(params, "containers"),
        with_namespace=not namespace,
        sort_by=parse_sort_by(value(params, "sort_by")),
        extras=extras,
        resources=result.resources,
    )
    q = source.queries.container_usage()
    return Table(rows(cells), result.notice, [q.cpu, q.memory])


TABLES = {"node": node_table, "pod": pod_table}


class TopHandler:
    """Serves the tables over ``api`` at the clock's current time."""

    def __init__(self, api: QueryAPI, clock: Clock, queries: Queries | None = None) -> None:
        self.api = api
        self.clock = clock
        self.queries = queries or Queries()

    async def handle(self, request: web.Request) -> web.Response:
        params = await form(request)
        kind = value(params, "resource") or "node"
        build = TABLES.get(kind)
        if build is None:
            raise APIError(ErrorType.BAD_DATA, f"invalid parameter 'resource': {kind!r}")
        source = MetricsSource(self.api, self.clock.now_ms(), self.queries)
        try:
            table = await asyncio.to_thread(build, source, params)
        except TopError as err:
            raise APIError(ErrorType.EXECUTION, err.line) from err
        except (PromQLError, QueryAPIUnavailable) as err:
            raise APIError(ErrorType.EXECUTION, f"error: {err}") from err
        data: dict[str, Any] = {
            "resource": kind,
            "time": source.t_ms / 1000,
            "columns": table.rows[0] if table.rows else [],
            "rows": table.rows[1:],
            "notice": table.notice,
            "queries": table.queries,
        }
        return success(data)
