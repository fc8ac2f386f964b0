"""Self-instrumentation of the HTTP server and the query engine, under Prometheus' names.

The metrics live in the registry the caller passes in (never the default registry), so
two servers in one process (tests) do not share counters.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

from kubeprom.clock import Clock, elapsed_s

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Prometheus' buckets for prometheus_http_request_duration_seconds and response sizes.
_DURATION_BUCKETS = (0.1, 0.2, 0.4, 1, 3, 8, 20, 60, 120)
_SIZE_BUCKETS = tuple(100 * 10**i for i in range(8))
_PARAM = re.compile(r"\{(\w+)\}")


class QueryMetrics:
    """What the query endpoints report: time spent queued and evaluating, and load."""

    def __init__(self, registry: CollectorRegistry, max_concurrency: int) -> None:
        self.duration = Summary(
            "prometheus_engine_query_duration_seconds",
            "Query timings",
            ["slice"],
            registry=registry,
        )
        self.queue_time = self.duration.labels("queue_time")
        self.inner_eval = self.duration.labels("inner_eval")
        self.in_flight = Gauge(
            "prometheus_engine_queries",
            "The current number of queries being executed or waiting.",
            registry=registry,
        )
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


class HTTPMetrics:
    """Requests by handler and status code, their latency and response size."""

    def __init__(self, registry: CollectorRegistry, clock: Clock) -> None:
        self._clock = clock
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
                route = _handler_label(request)
                counted = self._counted.get((code, route))
                if counted is None:
                    counted = self._counted[code, route] = self.requests.labels(str(code), route)
                counted.inc()
                timed = self._timed.get(route)
                if timed is None:
                    timed = self._timed[route] = (
                        self.duration.labels(route),
                        self.size.labels(route),
                    )
                timed[0].observe(elapsed_s(self._clock, started_ns))
                timed[1].observe(_size(response))

        return instrument


def _size(response: web.StreamResponse | None) -> int:
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        return len(response.body)
    return response.body_length if response is not None else 0


def _handler_label(request: web.Request) -> str:
    """The route pattern as Prometheus names handlers: ``/api/v1/label/:name/values``."""
    info = request.match_info
    if info.http_exception is not None:
        return "other"
    resource = info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return _PARAM.sub(r":\1", canonical)
