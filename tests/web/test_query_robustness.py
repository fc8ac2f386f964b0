"""Issue 11 at the HTTP edge: queries in a pool of their own, abandoned queries canceled,
every error in Prometheus' envelope (a corrupt chunk, an unexpected exception)."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.errors import QueryCanceled
from kubeprom.model import Labels
from kubeprom.promql.api import LocalQueryAPI, QueryAPI, QueryResult, ResultType
from kubeprom.tsdb import DB, MemStore, Options
from kubeprom.tsdb.block import write_block
from kubeprom.web import QueryHandlers, SeriesHandlers, build_app


class BlockingAPI:
    """A QueryAPI whose queries wait until released (and count how many have started)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Semaphore(0)

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        self.started.release()
        self.release.wait(30)
        return QueryResult(ResultType.SCALAR, t=np.array([1000]), v=np.array([1.0]))

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        raise NotImplementedError


async def test_busy_query_threads_leave_labels_and_series_answering() -> None:
    """As many blocked queries as any default thread pool has threads (32) do not hold up
    /api/v1/labels: queries have a pool of their own."""
    api = BlockingAPI()
    store = MemStore()
    store.add(Labels.from_dict({"__name__": "up", "job": "a"}), np.array([0]), np.array([1.0]))
    app = build_app(
        CollectorRegistry(),
        query=QueryHandlers(api, max_concurrency=32),
        series=SeriesHandlers(lambda: store),
    )
    async with TestClient(TestServer(app)) as c:
        queries = [
            asyncio.ensure_future(c.get("/api/v1/query", params={"query": "1", "time": "1"}))
            for _ in range(32)
        ]
        for _ in range(32):
            assert await asyncio.to_thread(api.started.acquire, True, 30)
        try:
            r = await asyncio.wait_for(c.get("/api/v1/labels"), 20)
            assert (r.status, await r.json()) == (
                200,
                {"status": "success", "data": ["__name__", "job"]},
            )
        finally:
            api.release.set()
        assert [(await q).status for q in queries] == [200] * 32


class CancellableAPI:
    """Waits for its cancel event the way an evaluation reaches its next check."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel = cancel
        self.stopped = threading.Event()

    def cancellable(self, cancel: threading.Event) -> QueryAPI:
        bound = CancellableAPI(cancel)
        bound.stopped = self.stopped
        return bound

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        assert self.cancel is not None
        if self.cancel.wait(30):
            self.stopped.set()
            raise QueryCanceled("query was canceled in query execution")
        return QueryResult(ResultType.SCALAR, t=np.array([1000]), v=np.array([1.0]))

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        raise NotImplementedError


async def test_a_timed_out_query_is_canceled_not_left_running() -> None:
    api = CancellableAPI()
    app = build_app(CollectorRegistry(), query=QueryHandlers(api, max_concurrency=1))
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/api/v1/query", params={"query": "1", "time": "1", "timeout": "0.05"})
        assert r.status == 503
        assert (await r.json())["errorType"] == "timeout"
        assert await asyncio.to_thread(api.stopped.wait, 30)


class FailingAPI:
    def instant(self, expr: str, t_ms: int) -> QueryResult:
        raise RuntimeError("boom")

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        raise RuntimeError("boom")


async def test_an_unexpected_exception_is_a_500_in_the_envelope(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = build_app(CollectorRegistry(), query=QueryHandlers(FailingAPI()))
    caplog.set_level(logging.ERROR)
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/api/v1/query", params={"query": "1", "time": "1"})
        assert r.status == 500
        assert r.content_type == "application/json"
        assert await r.json() == {
            "status": "error",
            "errorType": "internal",
            "error": "internal error: RuntimeError: boom",
        }
    (record,) = [x for x in caplog.records if x.name == "kubeprom.web.app"]
    assert record.getMessage() == "internal error path=/api/v1/query"
    assert record.exc_info is not None  # the traceback goes to the log, not the client


async def test_a_corrupt_chunk_answers_500_then_the_rest_with_a_warning(tmp_path: Path) -> None:
    series = [Labels.from_dict({"__name__": "m", "i": str(i)}) for i in range(2)]
    t = np.tile(np.arange(0, 1000, 100, dtype=np.int64), 2)
    offsets = np.array([0, 10, 20], dtype=np.int64)
    path = write_block(
        tmp_path, series, t, t * 1.0, offsets, min_time=0, max_time=1000, frame_samples=10
    )
    chunk_file = path / "chunks" / "000001"
    raw = bytearray(chunk_file.read_bytes())
    raw[-5] ^= 0x10  # in the last frame: series i="1"
    chunk_file.write_bytes(bytes(raw))
    db = DB.open(tmp_path, Options(retention_ms=None))
    app = build_app(CollectorRegistry(), query=QueryHandlers(LocalQueryAPI(db.querier)))
    try:
        async with TestClient(TestServer(app)) as c:
            params = {"query": "m", "time": "0.95"}
            r = await c.get("/api/v1/query", params=params)
            body = await r.json()
            assert (r.status, body["status"], body["errorType"]) == (500, "error", "internal")
            assert body["error"].startswith(f"{chunk_file}: frame 1 (series 1 to 1): ")
            assert body["error"].endswith("checksum mismatch")
            r = await c.get("/api/v1/query", params=params)
            body = await r.json()
            assert r.status == 200
            assert body["data"]["result"] == [
                {"metric": {"__name__": "m", "i": "0"}, "value": [0.95, "900"]}
            ]
            (warning,) = body["warnings"]
            assert warning.endswith("; its samples are left out (quarantined)")
    finally:
        db.close()
