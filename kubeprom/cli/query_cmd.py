"""``kubeprom query|query-range|query-series|query-labels``: promtool's query commands.

Each asks a Prometheus-compatible server (``--server URL``, default the local kubeprom; a
real Prometheus works the same) through :class:`~kubeprom.web.client.PrometheusClient`, with
credentials from the URL (``http://user:password@host``) or from ``--http.config.file``
(basic auth, bearer tokens, TLS), or reads a data directory directly (``--data DIR``, opened
read-only, so a running server's directory is safe to read and is left as it was).
Output is a readable table, or with ``-o json`` the API's ``data`` exactly as ``/api/v1``
returns it. Errors are one line (``kubeprom: error: bad_data: invalid parameter "query":
1:5: parse error: ...``) and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from kubeprom.cli.server_flags import add_http_config_flag, check_http_config_flag, server_client
from kubeprom.errors import APIError, KubepromError
from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_rfc3339_nano
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
from kubeprom.tsdb.db import DB
from kubeprom.web.client import APIResponse
from kubeprom.web.params import matcher_sets, parse_step, parse_time
from kubeprom.web.query import format_time, result_text
from kubeprom.web.series import label_names_data, label_values_data, series_data

DEFAULT_SERVER = "http://127.0.0.1:9090"
HTTP_TIMEOUT_S = 130.0  # a little over the server's default query timeout (2m)
RANGE_POINTS = 250  # promtool's automatic step: the range divided into this many steps
DEFAULT_RANGE_MS = 5 * 60 * 1000  # promtool's default --start: 5m before --end

Params = list[tuple[str, str]]


class Source(Protocol):
    """Answers one ``/api/v1`` call with its data and annotations; raises KubepromError.

    :class:`~kubeprom.web.client.PrometheusClient` is the server one, :class:`LocalSource`
    the data directory one."""

    def call(self, endpoint: str, params: Params) -> APIResponse: ...


class LocalSource:
    """A data directory, opened read-only for each call."""

    def __init__(self, path: str) -> None:
        self.path = path

    def call(self, endpoint: str, params: Params) -> APIResponse:
        p: dict[str, list[str]] = {}
        for k, v in params:
            p.setdefault(k, []).append(v)

        def one(name: str, default: int) -> int:
            return parse_time(p[name][0], name) if name in p else default

        db = DB.open_read_only(self.path)
        try:
            try:
                sets = matcher_sets(p.get("match[]", []))
            except ValueError as err:  # ParseError is a KubepromError, reported as it is
                raise KubepromError(str(err)) from err
            mint, maxt = one("start", MIN_TIME), one("end", MAX_TIME)
            q = db.querier()
            if endpoint in ("query", "query_range"):
                api = LocalQueryAPI(db.querier)
                if endpoint == "query":
                    r = api.instant(p["query"][0], one("time", 0))
                else:
                    r = api.range(p["query"][0], mint, maxt, parse_step(p["step"][0], "step"))
                return APIResponse(json.loads(result_text(r)), r.warnings, r.infos)
            data: Any
            if endpoint == "series":
                data, warnings = series_data(q, sets, mint, maxt)
            elif endpoint == "labels":
                data, warnings = label_names_data(q, sets, mint, maxt)
            else:
                name = urllib.parse.unquote(endpoint.removeprefix("label/").removesuffix("/values"))
                data, warnings = label_values_data(q, name, sets, mint, maxt)
            return APIResponse(data, tuple(warnings))
        finally:
            db.close()


# ---- rendering --------------------------------------------------------------------------------
def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, three spaces apart, as ``kubectl`` prints."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


def _series(metric: dict[str, str]) -> str:
    return str(Labels.from_dict(metric)) if metric else "{}"


def _when(seconds: float) -> str:
    return format_rfc3339_nano(round(seconds * 1000))


def render_query(data: dict[str, Any]) -> str:
    kind, result = data["resultType"], data["result"]
    if kind == "string":
        return f"{result[1]}\n"
    if kind == "scalar":
        return table(["VALUE", "TIME"], [[result[1], _when(result[0])]])
    if kind == "vector":
        rows = [[_series(s["metric"]), s["value"][1]] for s in result]
        return table(["SERIES", "VALUE"], rows) if rows else ""
    rows = [[_series(s["metric"]), _when(t), v] for s in result for t, v in s.get("values", [])]
    return table(["SERIES", "TIME", "VALUE"], rows) if rows else ""


def render_list(header: str, items: Sequence[str]) -> str:
    return table([header], [[i] for i in items]) if items else ""


# ---- commands --------------------------------------------------------------------------------
def _source(args: argparse.Namespace) -> Source:
    if args.data:
        check_http_config_flag(args)
        return LocalSource(args.data)
    return server_client(args, timeout_s=HTTP_TIMEOUT_S)


def _seconds(text: str, flag: str) -> str:
    """Validate a time flag and pass it on as Unix seconds."""
    try:
        return str(format_time(parse_time(text, flag)))
    except APIError as err:
        raise KubepromError(f"--{flag}: cannot parse {text!r} as RFC 3339 or Unix seconds") from err


def _now_s() -> str:
    return str(format_time(int(time.time() * 1000)))


def _emit(args: argparse.Namespace, resp: APIResponse, render: Callable[[Any], str]) -> int:
    data = resp.data
    for w in resp.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.output == "json":
        print(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    else:
        sys.stdout.write(render(data))
    return 0


def run_query(args: argparse.Namespace) -> int:
    params = [
        ("query", args.expr),
        ("time", _seconds(args.time, "time") if args.time else _now_s()),
    ]
    return _emit(args, _source(args).call("query", params), render_query)


def run_query_range(args: argparse.Namespace) -> int:
    end_ms = parse_time(_seconds(args.end, "end"), "end") if args.end else int(time.time() * 1000)
    if args.start:
        start_ms = parse_time(_seconds(args.start, "start"), "start")
    else:
        start_ms = end_ms - DEFAULT_RANGE_MS
    if args.step:
        try:
            step_ms = parse_step(args.step, "step")
        except APIError as err:
            raise KubepromError(f"--step: cannot parse {args.step!r} as a duration") from err
    else:
        step_ms = max((end_ms - start_ms) // RANGE_POINTS // 1000, 1) * 1000
    params = [
        ("query", args.expr),
        ("start", str(format_time(start_ms))),
        ("end", str(format_time(end_ms))),
        ("step", str(format_time(step_ms))),
    ]
    return _emit(args, _source(args).call("query_range", params), render_query)


def _range_params(args: argparse.Namespace) -> Params:
    params = [("match[]", m) for m in args.match]
    if args.start:
        params.append(("start", _seconds(args.start, "start")))
    if args.end:
        params.append(("end", _seconds(args.end, "end")))
    return params


def run_query_series(args: argparse.Namespace) -> int:
    resp = _source(args).call("series", _range_params(args))
    return _emit(args, resp, lambda data: render_list("SERIES", [_series(m) for m in data]))


def run_query_labels(args: argparse.Namespace) -> int:
    if args.name:
        endpoint = f"label/{urllib.parse.quote(args.name, safe='')}/values"
        header = "VALUE"
    else:
        endpoint, header = "labels", "NAME"
    resp = _source(args).call(endpoint, _range_params(args))
    return _emit(args, resp, lambda data: render_list(header, data))


def _common(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"Prometheus-compatible server URL (default: {DEFAULT_SERVER})",
    )
    where.add_argument("--data", default=None, help="read this data directory instead")
    add_http_config_flag(p)
    p.add_argument(
        "-o",
        "--output",
        choices=["table", "json"],
        default="table",
        help="table (default) or json: the API's data as returned",
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser("query", help="run an instant query")
    p.add_argument("expr", help="PromQL expression")
    p.add_argument("--time", default=None, help="evaluation time, RFC 3339 or Unix (default: now)")
    _common(p)
    p.set_defaults(func=run_query)

    p = sub.add_parser("query-range", help="run a range query")
    p.add_argument("expr", help="PromQL expression")
    p.add_argument("--start", default=None, help="range start (default: 5m before --end)")
    p.add_argument("--end", default=None, help="range end (default: now)")
    p.add_argument("--step", default=None, help="resolution, e.g. 15s (default: range / 250)")
    _common(p)
    p.set_defaults(func=run_query_range)

    p = sub.add_parser("query-series", help="list series matching selectors")
    p.add_argument("--match", action="append", required=True, help="series selector (repeatable)")
    p.add_argument("--start", default=None, help="only series with samples after this")
    p.add_argument("--end", default=None, help="only series with samples before this")
    _common(p)
    p.set_defaults(func=run_query_series)

    p = sub.add_parser("query-labels", help="list label names, or the values of one label")
    p.add_argument("name", nargs="?", default=None, help="label whose values to list")
    p.add_argument("--match", action="append", default=[], help="series selector (repeatable)")
    p.add_argument("--start", default=None, help="only series with samples after this")
    p.add_argument("--end", default=None, help="only series with samples before this")
    _common(p)
    p.set_defaults(func=run_query_labels)
