"""Queries that were cheap the last time run on the event loop; the rest in worker threads."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.promql.api import QueryResult, ResultType
from kubeprom.web import QueryHandlers, build_app
from kubeprom.web.query import INLINE_BELOW_NS


class WorkClock:
    """A clock whose monotonic time moves only by the work queries report."""

    def __init__(self) -> None:
        self.ns = 0

    def now_ms(self) -> int:
        return 1_000_000

    def monotonic_ns(self) -> int:
        return self.ns

    async def sleep_ms(self, duration_ms: int) -> None:
        await asyncio.sleep(0)

    async def sleep_until_ms(self, t_ms: int) -> None:
        await asyncio.sleep(0)


class CostAPI:
    """A QueryAPI that records the thread of every evaluation; each query text costs a fixed
    number of nanoseconds on the clock (per step for range queries)."""

    def __init__(self, clock: WorkClock, cost_ns: dict[str, int]) -> None:
        self.clock = clock
        self.cost_ns = cost_ns
        self.threads: list[tuple[str, int]] = []

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        self.threads.append((expr, threading.get_ident()))
        self.clock.ns += self.cost_ns[expr]
        return QueryResult(ResultType.SCALAR, t=np.array([t_ms]), v=np.array([1.0]))

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        self.threads.append((expr, threading.get_ident()))
        self.clock.ns += self.cost_ns[expr] * ((end_ms - start_ms) // step_ms + 1)
        return QueryResult(ResultType.MATRIX, labels=[], offsets=np.zeros(1, dtype=np.int64))


async def test_a_query_cheap_last_time_runs_on_the_loop_and_an_expensive_one_in_a_thread() -> None:
    clock = WorkClock()
    api = CostAPI(clock, {"cheap": INLINE_BELOW_NS // 4, "dear": INLINE_BELOW_NS})
    handlers = QueryHandlers(api)
    loop_thread = threading.get_ident()  # the test server runs on this loop
    async with TestClient(
        TestServer(build_app(CollectorRegistry(), clock=clock, query=handlers))
    ) as c:
        for expr in ("cheap", "dear", "cheap", "dear", "cheap"):
            r = await c.get("/api/v1/query", params={"query": expr, "time": "1"})
            assert (await r.json())["data"] == {"resultType": "scalar", "result": [1, "1"]}
    on_loop = [(expr, t == loop_thread) for expr, t in api.threads]
    assert on_loop == [
        ("cheap", False),  # never seen: a worker thread
        ("dear", False),
        ("cheap", True),
        ("dear", False),  # the limit last time: not cheap
        ("cheap", True),
    ]


async def test_a_range_query_is_remembered_with_its_number_of_steps() -> None:
    clock = WorkClock()
    api = CostAPI(clock, {"q": INLINE_BELOW_NS // 100})  # cheap at 10 steps, not at 100
    handlers = QueryHandlers(api)
    loop_thread = threading.get_ident()
    async with TestClient(
        TestServer(build_app(CollectorRegistry(), clock=clock, query=handlers))
    ) as c:
        for end in ("10", "10", "100", "100", "10"):
            params = {"query": "q", "start": "1", "end": end, "step": "1"}
            r = await c.get("/api/v1/query_range", params=params)
            assert (await r.json())["data"] == {"resultType": "matrix", "result": []}
    assert [t == loop_thread for _, t in api.threads] == [False, True, False, False, True]
