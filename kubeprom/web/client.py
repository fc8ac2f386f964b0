"""The one client of the Prometheus HTTP API: :class:`PrometheusClient`.

It implements :class:`kubeprom.promql.api.QueryAPI` (``instant``, ``range``) and answers
the other ``/api/v1`` endpoints the commands read (``series``, ``labels``,
``label/<name>/values``, ``metadata``, ...) with :meth:`PrometheusClient.call`, which
returns the response's ``data`` as the server sent it. It asks any Prometheus-compatible
server: kubeprom, Prometheus, VictoriaMetrics.

Why it lives in ``web/``: it speaks the API that ``web/`` serves, with the same envelope
and error types, and only the command line builds one (``kubeprom query*``, ``kubeprom top
--server``). ``top``, ``rules`` and the HPA never import it (the layering test forbids
``rules``/``hpa`` to import ``web``): they receive it as a ``QueryAPI``. What the coming
Alertmanager notifier and remote write share with it sits lower, in ``kubeprom.config``:
the ``http_config`` settings (:mod:`kubeprom.config.http_client`) and the TLS context and
headers made from them (:mod:`kubeprom.config.http_transport`).

Requests are blocking ``urllib`` calls of at most ``timeout_s`` each, so this is for
command-line tools, not for use inside an event loop. As Prometheus' Go client does, the
endpoints that accept a form POST get one (long selectors fit), falling back to GET when
the server answers 405; the others are GETs. Credentials: ``http://user:password@host``
sends basic auth (and wins over the config, as Go's client does); ``http_config`` adds
basic auth, ``authorization`` (bearer tokens) and TLS.

Results of ``instant``/``range`` are :class:`~kubeprom.promql.api.QueryResult` in the order
the server returned them, timestamps in ms, values parsed from Prometheus' strings
(``"NaN"``, ``"+Inf"``); warnings and infos travel with the result.

Errors:

* an error envelope: :meth:`~PrometheusClient.call` raises
  :class:`~kubeprom.errors.APIError` (its ``kind`` is the ``errorType``; servers that put
  an HTTP status there, as VictoriaMetrics does, get the matching type). The query methods
  map it to the QueryAPI's errors: a parse error (``bad_data`` whose message is
  ``[invalid parameter "query": ]L:C: parse error: ...``) becomes
  :class:`~kubeprom.errors.ParseError` with its position recovered, ``timeout``
  :class:`~kubeprom.errors.QueryTimeout`, ``canceled``
  :class:`~kubeprom.errors.QueryCanceled`, the sample limit
  :class:`~kubeprom.errors.TooManySamples`, ``unavailable`` (the server's query queue is
  full) :class:`~kubeprom.errors.QueryAPIUnavailable`, anything else
  :class:`~kubeprom.errors.EvalError`;
* the server could not be reached, refused the credentials (401, 403), failed the TLS
  handshake, or answered something that is not the API (an HTML page, a proxy error):
  :class:`~kubeprom.errors.QueryAPIUnavailable`;
* a URL that is not http(s), or an ``http_config`` whose files cannot be loaded:
  :class:`~kubeprom.errors.ConfigError`.
"""

from __future__ import annotations

import base64
import errno
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import numpy as np

from kubeprom.config.http_client import HTTPClientConfig
from kubeprom.config.http_transport import ClientTransport
from kubeprom.errors import (
    APIError,
    ConfigError,
    ErrorType,
    EvalError,
    ParseError,
    PromQLError,
    QueryAPIUnavailable,
    QueryCanceled,
    QueryTimeout,
    TooManySamples,
)
from kubeprom.model.labels import Labels
from kubeprom.promql.api import QueryResult, ResultType

DEFAULT_TIMEOUT_S = 30.0
USER_AGENT = "kubeprom"
Params = Sequence[tuple[str, str]]

# Endpoints Prometheus serves for a form POST as well as GET (web/api/v1/api.go Register).
_FORM_POST = frozenset(
    {"query", "query_range", "query_exemplars", "format_query", "parse_query", "labels", "series"}
)
_PARSE_ERROR_RE = re.compile(
    r'(?:invalid parameter "query": )?(\d+):(\d+): parse error: (.*)', re.S
)
_TOO_MANY_SAMPLES = "query processing would load too many samples into memory"
# errorType values that are HTTP statuses (VictoriaMetrics) -> Prometheus' names.
_STATUS_TYPES = {
    400: ErrorType.BAD_DATA,
    404: ErrorType.NOT_FOUND,
    422: ErrorType.EXECUTION,
    503: ErrorType.UNAVAILABLE,
}


@dataclass(frozen=True, slots=True)
class APIResponse:
    """A successful answer: ``data`` as the server sent it, and its annotations."""

    data: Any
    warnings: tuple[str, ...] = ()
    infos: tuple[str, ...] = ()


def format_time(t_ms: int) -> str:
    """Seconds with millisecond precision, exactly (no float rounding)."""
    sign = "-" if t_ms < 0 else ""
    whole, ms = divmod(abs(t_ms), 1000)
    return f"{sign}{whole}.{ms:03d}"


def _offset(query: str, line: int, col: int) -> int:
    lines = query.split("\n")
    return sum(len(s) + 1 for s in lines[: line - 1]) + col - 1


def _error_type(kind: str, status: int) -> ErrorType:
    try:
        return ErrorType(kind)
    except ValueError:
        code = int(kind) if kind.isdigit() else status
        return _STATUS_TYPES.get(code, ErrorType.INTERNAL)


def query_error(err: APIError, query: str, url: str) -> PromQLError | QueryAPIUnavailable:
    """The QueryAPI error for an error envelope answering ``query``."""
    message = err.message
    if err.kind is ErrorType.BAD_DATA:
        m = _PARSE_ERROR_RE.fullmatch(message)
        if m is not None:
            start = _offset(query, int(m[1]), int(m[2]))
            return ParseError(m[3], query=query, start=start, end=start)
    if err.kind is ErrorType.TIMEOUT:
        return QueryTimeout(message)
    if err.kind is ErrorType.CANCELED:
        return QueryCanceled(message)
    if err.kind is ErrorType.UNAVAILABLE:
        return QueryAPIUnavailable(url, message)
    if message.startswith(_TOO_MANY_SAMPLES):
        return TooManySamples(message)
    return EvalError(message)


def _ms(t: Any) -> int:
    return round(float(t) * 1000)


def query_result(
    data: dict[str, Any], warnings: Sequence[str], infos: Sequence[str]
) -> QueryResult:
    """A QueryResult from the ``data`` of a query response."""
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


def _split_credentials(url: str) -> tuple[str, str | None]:
    """``url`` without ``user:password@``, and the basic auth header those give."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"expected an http or https URL, got {url!r}", field="server URL")
    if parts.username is None:
        return url.rstrip("/"), None
    pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    bare = urllib.parse.urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
    return bare, "Basic " + base64.b64encode(pair.encode()).decode()


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries ``user[:password]@``."""
    return urllib.parse.urlsplit(url).username is not None


class PrometheusClient:
    """The ``/api/v1`` of the server at ``url`` (its root, or a path prefix such as
    ``https://host/prometheus``), with ``http_config``'s credentials and TLS.

    Each call is one blocking request (two when a POST is refused with 405) of at most
    ``timeout_s`` seconds. Instances hold no connection and may be shared between threads.
    Raises ConfigError at construction for a bad URL or TLS files that cannot be loaded.
    """

    def __init__(
        self,
        url: str,
        http_config: HTTPClientConfig | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.base_url, self._url_auth = _split_credentials(url)
        self.timeout_s = timeout_s
        self.transport = ClientTransport(http_config or HTTPClientConfig(), user_agent=user_agent)

    @property
    def url_authorization(self) -> str | None:
        """The ``Authorization`` header the URL's ``user:password@`` asks for, if any."""
        return self._url_auth

    # ---- QueryAPI ------------------------------------------------------------------------------
    def instant(self, expr: str, t_ms: int) -> QueryResult:
        return self._query("query", expr, [("query", expr), ("time", format_time(t_ms))])

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        params = [
            ("query", expr),
            ("start", format_time(start_ms)),
            ("end", format_time(end_ms)),
            ("step", format_time(step_ms)),
        ]
        return self._query("query_range", expr, params)

    def _query(self, endpoint: str, expr: str, params: Params) -> QueryResult:
        try:
            resp = self.call(endpoint, params)
        except APIError as err:
            raise query_error(err, expr, self.url(endpoint)) from err
        try:
            return query_result(resp.data, resp.warnings, resp.infos)
        except (KeyError, IndexError, TypeError, ValueError) as err:
            url = self.url(endpoint)
            raise QueryAPIUnavailable(url, f"malformed query result: {err!r}") from err

    # ---- any endpoint --------------------------------------------------------------------------
    def url(self, endpoint: str) -> str:
        return f"{self.base_url}/api/v1/{endpoint}"

    def call(self, endpoint: str, params: Params = ()) -> APIResponse:
        """``/api/v1/<endpoint>`` with ``params`` (repeat a name for a list, e.g.
        ``match[]``); ``endpoint`` is already path-escaped (``label/job/values``).

        Raises APIError for an error envelope, QueryAPIUnavailable when no API answered.
        """
        url = self.url(endpoint)
        encoded = urllib.parse.urlencode(list(params))
        status, text = -1, ""
        if endpoint in _FORM_POST:
            status, text = self._send(url, encoded.encode())
        if status in (-1, HTTPStatus.METHOD_NOT_ALLOWED):
            status, text = self._send(f"{url}?{encoded}" if encoded else url, None)
        return self._decode(url, status, text)

    def _decode(self, url: str, status: int, text: str) -> APIResponse:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("status") not in ("success", "error"):
            if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
                raise QueryAPIUnavailable(url, f"HTTP {status} {HTTPStatus(status).phrase}")
            snippet = " ".join(text.split())[:200]
            raise QueryAPIUnavailable(
                url, f"HTTP {status}: not a Prometheus API response: {snippet!r}"
            )
        if body["status"] == "error":
            kind = _error_type(str(body.get("errorType", "")), status)
            raise APIError(kind, str(body.get("error", "")), status=status)
        return APIResponse(
            body.get("data"),
            tuple(body.get("warnings") or ()),
            tuple(body.get("infos") or ()),
        )

    def _send(self, url: str, form: bytes | None) -> tuple[int, str]:
        """One request: a form POST when ``form`` is given, else a GET. Returns the status
        and body of any HTTP answer, error statuses included."""
        request = urllib.request.Request(url, data=form, method="GET" if form is None else "POST")
        request.add_header("Accept", "application/json")
        if form is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if self._url_auth is not None:
            request.add_header("Authorization", self._url_auth)
        try:
            with self.transport.open(request, self.timeout_s) as resp:
                return int(resp.status), resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as err:
            # Prometheus answers API errors with 4xx/5xx and its JSON envelope.
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
        except OSError as err:  # a connection reset or closed mid-response, a TLS failure
            raise QueryAPIUnavailable(url, str(err)) from err
