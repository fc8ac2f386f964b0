"""Self-instrumentation of the HTTP server and the query engine, under Prometheus' names.

The metrics live in the registry the caller passes in (never the default registry), so
two servers in one process (tests) do not share counters.

A request's observations are queued and applied to the metrics when the registry is next
read (a collector registered ahead of them applies the queue) or once 256 are queued:
prometheus_client's counters and histograms take a lock per update, and the seven updates of
a query request cost ~50 µs when the caches are cold, as they are between two requests; a
queued tuple costs a few. Children are still created on a request's first sight of its
labels, so their ``_created`` times are unchanged.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
from prometheus_client.metrics_core import Metric

from kubeprom.clock import Clock, elapsed_s

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Prometheus' buckets for prometheus_http_request_duration_seconds and response sizes.
_DURATION_BUCKETS = (0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120)
_SIZE_BUCKETS = tuple(100 * 10**i for i in range(8))
_PARAM = re.compile(r"\{(\w+)\}")
_APPLY_EVERY = 256  # queued observations applied at once when nothing reads the registry


class _Applier:
    """A collector that yields nothing: reading the registry applies the queued updates
    first (registered before the metrics it updates, it is collected before them)."""

    def __init__(self, apply: Callable[[], None]) -> None:
        self._apply = apply

    def collect(self) -> Iterable[Metric]:
        self._apply()
        return ()


class QueryMetrics:
    """What the query endpoints report: time spent queued and evaluating, and load."""

    def __init__(self, registry: CollectorRegistry, max_concurrency: int) -> None:
        registry.register(_Applier(self.apply))
        # (queue wait s, evaluation s) per finished query; deque appends and pops are atomic
        self._pending: deque[tuple[float, float]] = deque()
        self.running = 0  # queries executing or waiting, read by the gauge at collection
        self.duration = Summary(
            "prometheus_engine_query_duration_seconds",
            "Query timings",
            ["slice"],
            registry=registry,
        )
        self.queue_time = self.duration.labels("queue_time")
        self.inner_eval = self.duration.labels("inner_eval")
        in_flight = Gauge(
            "prometheus_engine_queries",
            "The current number of queries being executed or waiting.",
            registry=registry,
        )
        in_flight.set_function(lambda: self.running)
        concurrent_max = Gauge(
            "prometheus_engine_queries_concurrent_max",
            "The max number of concurrent queries.",
            registry=registry,
        )
        concurrent_max.set(max_concurrency)
        self.rejected = Counter(
            "kubeprom_engine_queries_rejected",
            "Queries refused with 503: the wait queue was full, or the sample budget taken.",
            registry=registry,
        )
        self.timeouts = Counter(
            "kubeprom_engine_queries_timed_out",
            "Queries that exceeded their timeout.",
            registry=registry,
        )

    def timed(self, queue_s: float, eval_s: float) -> None:
        """A finished query's wait for a slot and its evaluation, in seconds."""
        self._pending.append((queue_s, eval_s))
        if len(self._pending) >= _APPLY_EVERY:
            self.apply()

    def apply(self) -> None:
        """Apply the queued observations (the registry's reads do)."""
        pending = self._pending
        while pending:
            try:
                queue_s, eval_s = pending.popleft()
            except IndexError:  # taken by another thread's apply meanwhile
                return
            self.queue_time.observe(queue_s)
            self.inner_eval.observe(eval_s)


class HTTPMetrics:
    """Requests by handler and status code, their latency and response size."""

    def __init__(self, registry: CollectorRegistry, clock: Clock) -> None:
        self._clock = clock
        registry.register(_Applier(self.apply))
        self._pending: deque[tuple[Counter, Histogram, Histogram, float, int]] = deque()
        self.requests = Counter(
            "prometheus_http_requests",
            "Counter of HTTP requests.",
            ["code", "handler"],
            registry=registry,
        )
        self.duration = Histogram(
            "prometheus_http_request_duration_seconds",
            "Histogram of latencies for HTTP requests.",
            ["handler"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.size = Histogram(
            "prometheus_http_response_size_bytes",
            "Histogram of response size for HTTP requests.",
            ["handler"],
            buckets=_SIZE_BUCKETS,
            registry=registry,
        )
        # The children by (code, handler) and handler: ``labels()`` takes a lock and builds
        # the key on every call, a noticeable part of a cheap request.
        self._counted: dict[tuple[int, str], Counter] = {}
        self._timed: dict[str, tuple[Histogram, Histogram]] = {}
        self._routes: dict[str, str] = {}  # route pattern -> handler label

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def instrument(request: web.Request, handler: Handler) -> web.StreamResponse:
            started_ns = self._clock.monotonic_ns()
            code = 500
            response: web.StreamResponse | None = None
            try:
                response = await handler(request)
                code = response.status
                return response
            except web.HTTPException as exc:
                code = exc.status
                raise
            finally:
                route = self._handler_label(request)
                counted = self._counted.get((code, route))
                if counted is None:
                    counted = self._counted[code, route] = self.requests.labels(str(code), route)
                timed = self._timed.get(route)
                if timed is None:
                    timed = self._timed[route] = (
                        self.duration.labels(route),
                        self.size.labels(route),
                    )
                seconds = elapsed_s(self._clock, started_ns)
                self._pending.append((counted, *timed, seconds, _size(response)))
                if len(self._pending) >= _APPLY_EVERY:
                    self.apply()

        return instrument

    def apply(self) -> None:
        """Apply the queued requests to the metrics (the registry's reads do)."""
        pending = self._pending
        while pending:
            try:
                counted, duration, size, seconds, nbytes = pending.popleft()
            except IndexError:  # taken by another thread's apply meanwhile
                return
            counted.inc()
            duration.observe(seconds)
            size.observe(nbytes)

    def _handler_label(self, request: web.Request) -> str:
        """The route pattern as Prometheus names handlers: ``/api/v1/label/:name/values``."""
        info = request.match_info
        if info.http_exception is not None:
            return "other"
        resource = info.route.resource
        if resource is None:
            return _PARAM.sub(r":\1", request.path)
        label = self._routes.get(resource.canonical)
        if label is None:
            label = self._routes[resource.canonical] = _PARAM.sub(r":\1", resource.canonical)
        return label


def _size(response: web.StreamResponse | None) -> int:
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        return len(response.body)
    return response.body_length if response is not None else 0
