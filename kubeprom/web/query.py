"""``/api/v1/query`` and ``/api/v1/query_range`` in Prometheus' JSON shapes.

Queries run in a thread pool of their own, ``max_concurrency`` threads (the store is
thread-safe), apart from the default pool that labels, series, federation, password checks
and compaction use: slow queries never starve those, and a slow query never stalls scraping.
At most ``max_concurrency`` run at once and the rest wait their turn.
A query that took under 5 ms the last time it ran runs on the event loop instead: the
hand-off to a thread and back costs about 0.3 ms, a large part of such a query.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, cast, runtime_checkable

import numpy as np
import orjson
from aiohttp import web
from multidict import MultiDict

from kubeprom.clock import Clock, elapsed_s
from kubeprom.errors import (
    APIError,
    ErrorType,
    EvalError,
    ParseError,
    QueryBudgetExceeded,
    QueryCanceled,
    QueryTimeout,
    StorageError,
    TooManySamples,
)
from kubeprom.model.gofmt import format_f
from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array
from kubeprom.promql.api import QueryAPI, QueryResult, ResultType
from kubeprom.web.envelope import success_text
from kubeprom.web.keys import request_clock
from kubeprom.web.metrics import QueryMetrics
from kubeprom.web.params import form, limit_param, parse_step, parse_time, time_param, value

__all__ = [
    "QueryHandlers",
    "format_time",
    "parse_step",
    "parse_time",
    "result_text",
]

Handler = Callable[[web.Request], Awaitable[web.Response]]


@runtime_checkable
class CancellableQueryAPI(QueryAPI, Protocol):
    """A QueryAPI whose queries can be stopped from another thread (``LocalQueryAPI``)."""

    def cancellable(self, cancel: threading.Event) -> QueryAPI:
        """The same API whose queries stop at their next check once ``cancel`` is set."""
        ...


Job = Callable[[QueryAPI], QueryResult]

MAX_POINTS_PER_SERIES = 11_000  # Prometheus' safety limit on range query resolution

# A query whose last evaluation (same text, same number of steps) took less than this runs
# on the event loop: the hand-off to a thread and back costs about 0.3 ms, and the loop
# stalls at most this long (a worker thread would hand the GIL back every switch interval).
INLINE_BELOW_NS = 5_000_000
# Queries remembered (dashboards repeat a few hundred at most), keyed by the text's hash:
# texts may be up to 1 MiB each, and a collision only picks the thread or the loop.
_COST_MEMO_SIZE = 4096


def format_time(t_ms: int) -> float | int:
    """Seconds as Prometheus writes them: an integer, or up to three decimals."""
    return t_ms // 1000 if t_ms % 1000 == 0 else t_ms / 1000


# Integral values below this print the same through ``str(int)`` as through ``format_f``
# (``repr`` switches to exponents at 1e16; int64 holds them exactly).
_INT_TEXT_LIMIT = 1e15


# ``repr`` writes values in [1e-4, 1e16) (and zeros) without an exponent, as Go's 'f' does.
_REPR_MIN, _REPR_MAX = 1e-4, 1e16
_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_POINTS = '"],['  # between one point's value and the next point's time

# Up to this many values are formatted one by one: fewer calls than the dozen numpy passes
# below, which cost a cheap query more than its evaluation when the caches are cold.
_SMALL = 64


def _values_text(values: F64Array) -> list[str]:
    """``format_f`` of many values, the common cases in C: orjson writes the shortest
    digits that read back as the value, exactly as ``repr`` does (tested against it on
    generated values) and several times faster; ``.0`` is stripped in one pass over the
    joined text. Values for which ``repr`` would use an exponent (below 1e-4 or from 1e16),
    NaN and ±Inf (orjson's ``null``) are written by ``format_f`` one by one."""
    if len(values) <= _SMALL:
        return list(map(format_f, values.tolist()))
    values = np.ascontiguousarray(values)
    with np.errstate(invalid="ignore"):
        integral = (values == np.trunc(values)) & (np.abs(values) < _INT_TEXT_LIMIT)
    integral &= ~np.signbit(values)  # -0.0 prints as "-0"; an int would lose the sign
    if integral.all():
        return orjson.dumps(values.astype(np.int64), option=_NUMPY)[1:-1].decode().split(",")
    text = orjson.dumps(values, option=_NUMPY)[1:-1].decode()
    out = (text + ",").replace(".0,", ",")[:-1].split(",")
    with np.errstate(invalid="ignore"):
        size = np.abs(values)
        odd = ~(((size >= _REPR_MIN) & (size < _REPR_MAX)) | (size == 0))
    fix = np.flatnonzero(odd).tolist()
    if "e" in text:  # not expected in the positional range; checked rather than assumed
        fix = sorted(set(fix) | {i for i, t in enumerate(out) if "e" in t})
    for i in fix:
        out[i] = format_f(float(values[i]))
    return out


def _labels_json(labels: Labels) -> str:
    """``json.dumps(labels, ensure_ascii=False)`` without blanks: orjson writes the same
    text for every code point (checked one by one) a tenth of the time; a lone surrogate
    (label bytes that are not UTF-8) it refuses is left to ``json``."""
    d = labels.to_dict()
    try:
        return orjson.dumps(d).decode()
    except orjson.JSONEncodeError:
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


def result_text(r: QueryResult) -> str:
    """The ``data`` object of a query response as JSON text.

    Written directly rather than through ``json.dumps`` of nested lists: a range query can
    return hundreds of thousands of points, and this is several times faster.
    """
    if r.result_type is ResultType.STRING:
        result = f"[{format_time(int(r.t[0]))},{json.dumps(r.string)}]"
        return f'{{"resultType":"string","result":{result}}}'
    if r.result_type is ResultType.SCALAR:
        result = f'[{format_time(int(r.t[0]))},"{format_f(float(r.v[0]))}"]'
        return f'{{"resultType":"scalar","result":{result}}}'
    ts = _values_text(r.t / 1000)  # format_time's text: whole seconds as integers
    vs = _values_text(r.v)
    o = r.offsets.tolist()
    parts = []
    vector = r.result_type is ResultType.VECTOR
    if not vector:
        pairs = list(map(',"'.join, zip(ts, vs, strict=True)))  # 't,"v' of each point
    for i, labels in enumerate(r.labels):
        metric = _labels_json(labels)
        a, b = o[i], o[i + 1]
        if vector:
            parts.append(f'{{"metric":{metric},"value":[{ts[a]},"{vs[a]}"]}}')
        else:
            values = f'[{_POINTS.join(pairs[a:b])}"]' if b > a else ""
            parts.append(f'{{"metric":{metric},"values":[{values}]}}')
    return f'{{"resultType":"{r.result_type.value}","result":[{",".join(parts)}]}}'


def _respond(r: QueryResult, limit: int) -> web.Response:
    """The success envelope; with ``limit``, at most that many series (Prometheus 3)."""
    warnings = list(r.warnings)
    if limit and len(r.labels) > limit:
        end = int(r.offsets[limit])
        r = dataclasses.replace(
            r, labels=r.labels[:limit], t=r.t[:end], v=r.v[:end], offsets=r.offsets[: limit + 1]
        )
        warnings.append("results truncated due to limit")
    return success_text(result_text(r), warnings=warnings, infos=list(r.infos))


class QueryHandlers:
    """The two query endpoints over one :class:`QueryAPI`.

    At most ``max_concurrency`` queries evaluate at once, in a pool of as many threads; up
    to ``max_queued`` more wait for a slot, and a query arriving when the queue is full gets
    503 ``unavailable`` at once. The timeout (the ``timeout`` parameter, capped by
    ``default_timeout_s``) covers the wait and the evaluation. A query whose client stops
    waiting (timeout, disconnect) is canceled: its evaluation stops at its next check, when
    the API supports it (:class:`CancellableQueryAPI`). It keeps its slot until its worker
    thread finishes, so abandoned queries cannot pile up past ``max_concurrency`` threads.
    The default ``time`` of an instant query is "now" on the app's clock, which also times
    the queue wait and the evaluation for the metrics. :meth:`close` stops the pool.
    """

    def __init__(
        self,
        api: QueryAPI,
        *,
        max_concurrency: int = 20,
        max_queued: int = 100,
        default_timeout_s: float = 120.0,
    ) -> None:
        self.api = api
        # Checked once: a runtime Protocol check walks the protocol's members each time.
        self._cancellable = isinstance(api, CancellableQueryAPI)
        self.max_concurrency = max_concurrency
        self.max_queued = max_queued
        self.default_timeout_s = default_timeout_s
        self._slots = asyncio.Semaphore(max_concurrency)
        self._waiting = 0
        self.metrics: QueryMetrics | None = None
        self._pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="kubeprom-query")
        self._cost_ns: OrderedDict[Hashable, int] = OrderedDict()

    def _remember(self, key: Hashable, cost_ns: int) -> None:
        self._cost_ns[key] = cost_ns
        self._cost_ns.move_to_end(key)
        if len(self._cost_ns) > _COST_MEMO_SIZE:
            self._cost_ns.popitem(last=False)

    def _cheap(self, key: Hashable) -> bool:
        cost = self._cost_ns.get(key)
        return cost is not None and cost < INLINE_BELOW_NS and not self._slots.locked()

    def close(self) -> None:
        """Stop the query threads (queries still running finish first, unobserved)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _call(self, job: Job, cancel: threading.Event) -> QueryResult:
        api = self.api
        if self._cancellable:
            api = cast(CancellableQueryAPI, api).cancellable(cancel)
        return job(api)

    async def _run(self, job: Job, timeout_s: float, clock: Clock, key: Hashable) -> QueryResult:
        m = self.metrics
        if self._slots.locked() and self._waiting >= self.max_queued:
            if m is not None:
                m.rejected.inc()
            raise APIError(
                ErrorType.UNAVAILABLE,
                f"too many queries: {self.max_concurrency} running and {self._waiting} "
                "queued; try again later",
            )
        if m is not None:
            m.running += 1
        queued_ns = clock.monotonic_ns()
        cancel: threading.Event | None = None
        try:
            if self._cheap(key):
                started_ns = queued_ns
                # On the loop nothing can cancel it before it returns: no event, no wrapper.
                result = job(self.api)
            else:
                cancel = threading.Event()
                async with asyncio.timeout(timeout_s):
                    self._waiting += 1
                    try:
                        await self._slots.acquire()
                    finally:
                        self._waiting -= 1
                    started_ns = clock.monotonic_ns()
                    loop = asyncio.get_running_loop()
                    running = loop.run_in_executor(self._pool, self._call, job, cancel)
                    running.add_done_callback(self._finished)
                    result = await asyncio.shield(running)
            # Wall time from the start of the evaluation: an upper bound of its own cost.
            self._remember(key, clock.monotonic_ns() - started_ns)
            if m is not None:
                m.timed((started_ns - queued_ns) / 1e9, elapsed_s(clock, started_ns))
            return result
        except TimeoutError as err:
            if m is not None:
                m.timeouts.inc()
            raise APIError(ErrorType.TIMEOUT, "query timed out in expression evaluation") from err
        except ParseError as err:
            raise APIError(ErrorType.BAD_DATA, f'invalid parameter "query": {err}') from err
        except QueryTimeout as err:
            raise APIError(ErrorType.TIMEOUT, str(err)) from err
        except QueryCanceled as err:
            raise APIError(ErrorType.CANCELED, str(err)) from err
        except QueryBudgetExceeded as err:  # the server is busy, not the query wrong: 503
            if m is not None:
                m.rejected.inc()
            raise APIError(ErrorType.UNAVAILABLE, str(err)) from err
        except (EvalError, TooManySamples) as err:
            raise APIError(ErrorType.EXECUTION, str(err)) from err
        except StorageError as err:  # Prometheus' ErrStorage: internal, 500
            raise APIError(ErrorType.INTERNAL, str(err)) from err
        finally:
            if cancel is not None:
                cancel.set()  # whatever ended the wait, the evaluation need not go on
            if m is not None:
                m.running -= 1

    def _finished(self, job: asyncio.Future[QueryResult]) -> None:
        self._slots.release()
        if not job.cancelled():
            job.exception()  # retrieved here too: a timed-out caller no longer awaits it

    def _timeout(self, p: MultiDict[str]) -> float:
        text = value(p, "timeout")
        if not text:
            return self.default_timeout_s
        return min(parse_step(text, "timeout") / 1000, self.default_timeout_s)

    async def query(self, request: web.Request) -> web.Response:
        p = await form(request)
        query = value(p, "query")
        clock = request_clock(request)
        t_ms = time_param(p, "time", clock.now_ms())
        timeout_s = self._timeout(p)
        if not query:
            raise APIError(
                ErrorType.BAD_DATA,
                'invalid parameter "query": 1:1: parse error: no expression found in input',
            )
        limit = limit_param(p)
        r = await self._run(
            lambda api: api.instant(query, t_ms), timeout_s, clock, ("instant", hash(query))
        )
        return _respond(r, limit)

    async def query_range(self, request: web.Request) -> web.Response:
        p = await form(request)
        start = parse_time(value(p, "start"), "start")
        end = parse_time(value(p, "end"), "end")
        if end < start:
            raise APIError(
                ErrorType.BAD_DATA,
                'invalid parameter "end": end timestamp must not be before start time',
            )
        step = parse_step(value(p, "step"), "step")
        if step <= 0:
            raise APIError(
                ErrorType.BAD_DATA,
                'invalid parameter "step": zero or negative query '
                "resolution step widths are not accepted. Try a positive integer",
            )
        if (end - start) // step > MAX_POINTS_PER_SERIES:
            raise APIError(
                ErrorType.BAD_DATA,
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)",
            )
        timeout_s = self._timeout(p)
        query = value(p, "query")
        if not query:
            raise APIError(
                ErrorType.BAD_DATA,
                'invalid parameter "query": 1:1: parse error: no expression found in input',
            )
        limit = limit_param(p)
        r = await self._run(
            lambda api: api.range(query, start, end, step),
            timeout_s,
            request_clock(request),
            ("range", hash(query), (end - start) // step),
        )
        return _respond(r, limit)

    def add_routes(self, app: web.Application, metrics: QueryMetrics | None = None) -> None:
        self.metrics = metrics

        async def close(_app: web.Application) -> None:
            self.close()

        app.on_cleanup.append(close)
        for path, handler in (
            ("/api/v1/query", self.query),
            ("/api/v1/query_range", self.query_range),
        ):
            app.router.add_get(path, handler)
            app.router.add_post(path, handler)
