"""``/api/v1/query`` and ``/api/v1/query_range`` in Prometheus' JSON shapes.

Queries run in worker threads (the store is thread-safe) so a slow query never stalls
scraping; at most ``max_concurrency`` run at once and the rest wait their turn.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable

import numpy as np
from aiohttp import web

from kubeprom.errors import EvalError, ParseError, QueryTimeout, TooManySamples
from kubeprom.model.timeutil import parse_duration_ms
from kubeprom.promql.api import QueryAPI, QueryResult, ResultType
from kubeprom.web.envelope import APIError, ErrorType, success_text

Handler = Callable[[web.Request], Awaitable[web.Response]]


_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def format_value(x: float) -> str:
    """Go's ``strconv.FormatFloat(x, 'f', -1, 64)``: shortest digits, never an exponent."""
    text = repr(x)  # shortest round-trip digits, like Go's -1 precision
    if "e" in text or "n" in text:
        special = _SPECIAL.get(text)
        return special if special is not None else np.format_float_positional(x, trim="-")
    return text[:-2] if text.endswith(".0") else text


def format_time(t_ms: int) -> float | int:
    """Seconds as Prometheus writes them: an integer, or up to three decimals."""
    return t_ms // 1000 if t_ms % 1000 == 0 else t_ms / 1000


def parse_time(text: str, name: str) -> int:
    """RFC 3339 or Unix seconds (with fraction) to ms; APIError naming the parameter."""
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise APIError(
            ErrorType.BAD_DATA,
            f'invalid parameter "{name}": cannot parse "{text}" to a valid timestamp',
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return round(when.timestamp() * 1000)


def parse_step(text: str, name: str) -> int:
    """A duration (``15s``) or float seconds to ms."""
    try:
        return round(float(text) * 1000)
    except ValueError:
        pass
    try:
        return parse_duration_ms(text)
    except ValueError:
        raise APIError(
            ErrorType.BAD_DATA,
            f'invalid parameter "{name}": cannot parse "{text}" to a valid duration',
        ) from None


def _values_text(values: list[float]) -> list[str]:
    """format_value for many values: repr for all, the rare exponent/special forms fixed."""
    out = list(map(repr, values))
    for i, text in enumerate(out):
        if text.endswith(".0"):
            out[i] = text[:-2]
        elif "e" in text or "n" in text:
            out[i] = format_value(values[i])
    return out


def result_text(r: QueryResult) -> str:
    """The ``data`` object of a query response as JSON text.

    Written directly rather than through ``json.dumps`` of nested lists: a range query can
    return hundreds of thousands of points, and this is several times faster.
    """
    if r.result_type is ResultType.STRING:
        result = f"[{format_time(int(r.t[0]))},{json.dumps(r.string)}]"
        return f'{{"resultType":"string","result":{result}}}'
    if r.result_type is ResultType.SCALAR:
        result = f'[{format_time(int(r.t[0]))},"{format_value(float(r.v[0]))}"]'
        return f'{{"resultType":"scalar","result":{result}}}'
    times = {t: str(format_time(t)) for t in set(r.t.tolist())}  # steps repeat per series
    ts = [times[t] for t in r.t.tolist()]
    vs = _values_text(r.v.tolist())
    o = r.offsets.tolist()
    parts = []
    vector = r.result_type is ResultType.VECTOR
    for i, labels in enumerate(r.labels):
        metric = json.dumps(labels.to_dict(), ensure_ascii=False, separators=(",", ":"))
        a, b = o[i], o[i + 1]
        if vector:
            parts.append(f'{{"metric":{metric},"value":[{ts[a]},"{vs[a]}"]}}')
        else:
            points = ",".join([f'[{t},"{v}"]' for t, v in zip(ts[a:b], vs[a:b], strict=True)])
            parts.append(f'{{"metric":{metric},"values":[{points}]}}')
    return f'{{"resultType":"{r.result_type.value}","result":[{",".join(parts)}]}}'


class QueryHandlers:
    """The two query endpoints over one :class:`QueryAPI`."""

    def __init__(
        self, api: QueryAPI, *, max_concurrency: int = 20, default_timeout_s: float = 120.0
    ) -> None:
        self.api = api
        self._slots = asyncio.Semaphore(max_concurrency)
        self.default_timeout_s = default_timeout_s

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    async def _run(self, fn: Callable[[], QueryResult], timeout_s: float) -> QueryResult:
        try:
            async with self._slots, asyncio.timeout(timeout_s):
                return await asyncio.to_thread(fn)
        except TimeoutError as err:
            raise APIError(ErrorType.TIMEOUT, "query timed out in expression evaluation") from err
        except ParseError as err:
            raise APIError(ErrorType.BAD_DATA, str(err)) from err
        except QueryTimeout as err:
            raise APIError(ErrorType.TIMEOUT, str(err)) from err
        except (EvalError, TooManySamples) as err:
            raise APIError(ErrorType.EXECUTION, str(err)) from err

    def _timeout(self, params: dict[str, str]) -> float:
        if "timeout" not in params:
            return self.default_timeout_s
        return min(parse_step(params["timeout"], "timeout") / 1000, self.default_timeout_s)

    async def query(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        if "query" not in p:
            raise APIError(ErrorType.BAD_DATA, 'invalid parameter "query": query must not be empty')
        t_ms = parse_time(p["time"], "time") if "time" in p else int(time.time() * 1000)
        r = await self._run(lambda: self.api.instant(p["query"], t_ms), self._timeout(p))
        return success_text(result_text(r), warnings=list(r.warnings), infos=list(r.infos))

    async def query_range(self, request: web.Request) -> web.Response:
        p = await self._params(request)
        for name in ("query", "start", "end", "step"):
            if name not in p:
                raise APIError(ErrorType.BAD_DATA, f'invalid parameter "{name}": missing')
        start, end = parse_time(p["start"], "start"), parse_time(p["end"], "end")
        step = parse_step(p["step"], "step")
        if end < start:
            raise APIError(
                ErrorType.BAD_DATA,
                'invalid parameter "end": end timestamp must not be before start time',
            )
        if step <= 0:
            raise APIError(
                ErrorType.BAD_DATA,
                'invalid parameter "step": zero or negative query '
                "resolution step widths are not accepted. Try a positive integer",
            )
        r = await self._run(lambda: self.api.range(p["query"], start, end, step), self._timeout(p))
        return success_text(result_text(r), warnings=list(r.warnings), infos=list(r.infos))

    def add_routes(self, app: web.Application) -> None:
        for path, handler in (
            ("/api/v1/query", self.query),
            ("/api/v1/query_range", self.query_range),
        ):
            app.router.add_get(path, handler)
            app.router.add_post(path, handler)
