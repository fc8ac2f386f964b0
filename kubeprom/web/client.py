"""The query seam over HTTP: :class:`HTTPQueryAPI` asks any Prometheus-compatible server.

It implements :class:`kubeprom.promql.api.QueryAPI` with blocking ``urllib`` requests
(``POST /api/v1/query`` and ``/api/v1/query_range``, form-encoded, as Prometheus accepts),
for command-line tools such as ``kubeprom top --server URL``. Not for use inside an event
loop: each call blocks for up to ``timeout_s``.

Results are :class:`~kubeprom.promql.api.QueryResult` in the order the server returned them,
timestamps in ms, sample values parsed from Prometheus' strings (``"NaN"``, ``"+Inf"``).
Warnings and infos of the response travel with the result.

Errors:

* the server answered with Prometheus' error envelope: ``bad_data`` becomes
  :class:`~kubeprom.errors.ParseError` when the message is a parse error (the position is
  recovered from its ``line:col``), else :class:`~kubeprom.errors.EvalError`; ``timeout``
  :class:`~kubeprom.errors.QueryTimeout`; ``canceled``
  :class:`~kubeprom.errors.QueryCanceled`; anything else :class:`EvalError`;
* the server could not be reached, or answered something that is not the API (an HTML
  page, a proxy error): :class:`QueryAPIUnavailable`.
"""

from __future__ import annotations

import errno
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import numpy as np

from kubeprom.errors import (
    EvalError,
    ParseError,
    PromQLError,
    QueryAPIUnavailable,
    QueryCanceled,
    QueryTimeout,
)
from kubeprom.model.labels import Labels
from kubeprom.promql.api import QueryResult, ResultType

DEFAULT_TIMEOUT_S = 30.0
_PARSE_ERROR_RE = re.compile(r"(\d+):(\d+): parse error: (.*)", re.DOTALL)
_USER_AGENT = "kubeprom"


def _format_time(t_ms: int) -> str:
    """Seconds with millisecond precision, exactly (no float rounding)."""
    sign = "-" if t_ms < 0 else ""
    whole, ms = divmod(abs(t_ms), 1000)
    return f"{sign}{whole}.{ms:03d}"


def _offset(query: str, line: int, col: int) -> int:
    lines = query.split("\n")
    return sum(len(s) + 1 for s in lines[: line - 1]) + col - 1


def _api_error(kind: str, message: str, query: str) -> PromQLError:
    if kind == "bad_data":
        m = _PARSE_ERROR_RE.fullmatch(message)
        if m is not None:
            start = _offset(query, int(m[1]), int(m[2]))
            return ParseError(m[3], query=query, start=start, end=start)
    if kind == "timeout":
        return QueryTimeout(message)
    if kind == "canceled":
        return QueryCanceled(message)
    return EvalError(message)


def _ms(t: Any) -> int:
    return round(float(t) * 1000)


def _result(data: dict[str, Any], warnings: list[str], infos: list[str]) -> QueryResult:
    kind = ResultType(data["resultType"])
    result = data["result"]
    extra = {"warnings": tuple(warnings), "infos": tuple(infos)}
    if kind is ResultType.STRING:
        return QueryResult(kind, string=str(result[1]), **extra)  # type: ignore[arg-type]
    series: list[tuple[dict[str, str], list[Any]]]
    if kind is ResultType.SCALAR:
        series = [({}, [result])]
    elif kind is ResultType.VECTOR:
        series = [(s["metric"], [s["value"]]) for s in result]
    else:
        series = [(s["metric"], s.get("values", [])) for s in result]
    labels = [Labels.from_dict(metric) for metric, _ in series]
    points = [p for _, pts in series for p in pts]
    t = np.array([_ms(p[0]) for p in points], dtype=np.int64)
    v = np.array([float(p[1]) for p in points], dtype=np.float64)
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    np.cumsum([len(pts) for _, pts in series], out=offsets[1:])
    return QueryResult(kind, labels, t, v, offsets, **extra)  # type: ignore[arg-type]


class HTTPQueryAPI:
    """:class:`~kubeprom.promql.api.QueryAPI` over ``base_url``'s ``/api/v1`` endpoints.

    ``base_url`` is the server root (``http://127.0.0.1:9090``, or a path prefix such as
    ``http://host/prometheus``). Each call is one blocking request of at most
    ``timeout_s`` seconds; instances hold no connection and may be shared between threads.
    """

    def __init__(self, base_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        return self._call("query", expr, {"query": expr, "time": _format_time(t_ms)})

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        params = {
            "query": expr,
            "start": _format_time(start_ms),
            "end": _format_time(end_ms),
            "step": _format_time(step_ms),
        }
        return self._call("query_range", expr, params)

    def _call(self, endpoint: str, expr: str, params: dict[str, str]) -> QueryResult:
        url = f"{self.base_url}/api/v1/{endpoint}"
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(
            url,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
            method="POST",
        )
        status, text = self._send(request, url)
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or "status" not in payload:
            snippet = " ".join(text.split())[:200]
            raise QueryAPIUnavailable(
                url, f"HTTP {status}: not a Prometheus API response: {snippet!r}"
            )
        if payload["status"] != "success":
            raise _api_error(str(payload.get("errorType", "")), str(payload.get("error", "")), expr)
        try:
            return _result(
                payload["data"], payload.get("warnings") or [], payload.get("infos") or []
            )
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise QueryAPIUnavailable(url, f"malformed query result: {err!r}") from err

    def _send(self, request: urllib.request.Request, url: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                return int(resp.status), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            # Prometheus answers query errors with 4xx/5xx and its JSON envelope.
            with err:
                return err.code, err.read().decode("utf-8", "replace")
        except urllib.error.URLError as err:
            reason = err.reason
            refused = isinstance(reason, ConnectionRefusedError) or (
                isinstance(reason, OSError) and reason.errno == errno.ECONNREFUSED
            )
            text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
            raise QueryAPIUnavailable(url, str(text), refused=refused) from err
        except TimeoutError as err:
            raise QueryAPIUnavailable(url, f"timed out after {self.timeout_s:g}s") from err
        except OSError as err:  # a connection reset or closed mid-response
            raise QueryAPIUnavailable(url, str(err)) from err
