"""``kubeprom query|query-range|query-series|query-labels``: promtool's query commands.

Each asks a Prometheus-compatible server (``--server URL``, default the local kubeprom; a
real Prometheus works the same) or reads a data directory directly (``--data DIR``, opened
read-only, so a running server's directory is safe to read). Output is a readable table,
or with ``-o json`` the API's ``data`` exactly as ``/api/v1`` returns it. Errors are one
line (``kubeprom: error: bad_data: invalid parameter "query": 1:5: parse error: ...``) and
exit 1.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from kubeprom.errors import KubepromError
from kubeprom.model.labels import Labels
from kubeprom.model.timeutil import format_rfc3339_nano
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME
from kubeprom.tsdb.db import DB
from kubeprom.web.envelope import APIError
from kubeprom.web.params import matcher_sets, parse_step, parse_time
from kubeprom.web.query import format_time, result_text
from kubeprom.web.series import label_names_data, label_values_data, series_data

DEFAULT_SERVER = "http://127.0.0.1:9090"
HTTP_TIMEOUT_S = 130.0  # a little over the server's default query timeout (2m)
RANGE_POINTS = 250  # promtool's automatic step: the range divided into this many steps
DEFAULT_RANGE_MS = 5 * 60 * 1000  # promtool's default --start: 5m before --end

Params = list[tuple[str, str]]


class Source(Protocol):
    """Answers one ``/api/v1`` call: (data, warnings); raises KubepromError."""

    def call(self, endpoint: str, params: Params) -> tuple[Any, list[str]]: ...


class HTTPSource:
    """A Prometheus-compatible server; ``user:password@`` in the URL sends basic auth."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KubepromError(f"--server: expected an http(s) URL, got {url!r}")
        self._auth: str | None = None
        if parts.username is not None:
            creds = f"{urllib.parse.unquote(parts.username)}:"
            creds += urllib.parse.unquote(parts.password or "")
            self._auth = "Basic " + base64.b64encode(creds.encode()).decode()
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            parts = parts._replace(netloc=netloc)
        self.base = urllib.parse.urlunsplit(parts).rstrip("/")

    def call(self, endpoint: str, params: Params) -> tuple[Any, list[str]]:
        url = f"{self.base}/api/v1/{endpoint}"
        req = urllib.request.Request(
            url, data=urllib.parse.urlencode(params).encode(), method="POST"
        )
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        req.add_header("User-Agent", "kubeprom")
        if self._auth is not None:
            req.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            if not _is_envelope(text):
                raise KubepromError(f"{url}: HTTP {err.code}: {text.strip()[:200]}") from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise KubepromError(f"cannot reach {self.base}: {reason}") from err
        if not _is_envelope(text):
            raise KubepromError(f"{url}: not a Prometheus API response: {text.strip()[:200]!r}")
        body = json.loads(text)
        if body["status"] != "success":
            raise KubepromError(f"{body.get('errorType', 'error')}: {body.get('error', '')}")
        return body.get("data"), list(body.get("warnings", []))


def _is_envelope(text: str) -> bool:
    try:
        body = json.loads(text)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") in ("success", "error")


class LocalSource:
    """A data directory, opened read-only for each call."""

    def __init__(self, path: str) -> None:
        self.path = path

    def call(self, endpoint: str, params: Params) -> tuple[Any, list[str]]:
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
            if endpoint == "query":
                r = LocalQueryAPI(db.querier).instant(p["query"][0], one("time", 0))
                return json.loads(result_text(r)), list(r.warnings)
            if endpoint == "query_range":
                step = parse_step(p["step"][0], "step")
                r = LocalQueryAPI(db.querier).range(p["query"][0], mint, maxt, step)
                return json.loads(result_text(r)), list(r.warnings)
            if endpoint == "series":
                return series_data(q, sets, mint, maxt)
            if endpoint == "labels":
                return label_names_data(q, sets, mint, maxt)
            name = endpoint.removeprefix("label/").removesuffix("/values")
            return label_values_data(q, name, sets, mint, maxt)
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
    return LocalSource(args.data) if args.data else HTTPSource(args.server)


def _seconds(text: str, flag: str) -> str:
    """Validate a time flag and pass it on as Unix seconds."""
    try:
        return str(format_time(parse_time(text, flag)))
    except APIError as err:
        raise KubepromError(f"--{flag}: cannot parse {text!r} as RFC 3339 or Unix seconds") from err


def _now_s() -> str:
    return str(format_time(int(time.time() * 1000)))


def _emit(
    args: argparse.Namespace, data: Any, warnings: list[str], render: Callable[[], str]
) -> int:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.output == "json":
        print(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    else:
        sys.stdout.write(render())
    return 0


def run_query(args: argparse.Namespace) -> int:
    params = [
        ("query", args.expr),
        ("time", _seconds(args.time, "time") if args.time else _now_s()),
    ]
    data, warnings = _source(args).call("query", params)
    return _emit(args, data, warnings, lambda: render_query(data))


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
    data, warnings = _source(args).call("query_range", params)
    return _emit(args, data, warnings, lambda: render_query(data))


def _range_params(args: argparse.Namespace) -> Params:
    params = [("match[]", m) for m in args.match]
    if args.start:
        params.append(("start", _seconds(args.start, "start")))
    if args.end:
        params.append(("end", _seconds(args.end, "end")))
    return params


def run_query_series(args: argparse.Namespace) -> int:
    data, warnings = _source(args).call("series", _range_params(args))
    return _emit(args, data, warnings, lambda: render_list("SERIES", [_series(m) for m in data]))


def run_query_labels(args: argparse.Namespace) -> int:
    if args.name:
        endpoint = f"label/{urllib.parse.quote(args.name, safe='')}/values"
        header = "VALUE"
    else:
        endpoint, header = "labels", "NAME"
    data, warnings = _source(args).call(endpoint, _range_params(args))
    return _emit(args, data, warnings, lambda: render_list(header, data))


def _common(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"Prometheus-compatible server URL (default: {DEFAULT_SERVER})",
    )
    where.add_argument("--data", default=None, help="read this data directory instead")
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
