"""Issue 11 at the HTTP edge: queries in a pool of their own, abandoned queries canceled,
every error in Prometheus' envelope (a corrupt chunk, an unexpected exception)."""

from __future__ import annotations

import asyncio
import logging
import threading
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from kubeprom.errors import QueryCanceled
from kubeprom.model import Labels
from kubeprom.promql.api import LocalQueryAPI, QueryAPI, QueryResult, ResultType
from kubeprom.tsdb import DB, MemStore, Options
from kubeprom.tsdb.block import write_block
from kubeprom.web import QueryHandlers, SeriesHandlers, build_app
from kubeprom.web.params import decode_form
from tests.support.blocking_api import BlockingAPI


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
        tmp_path,
        series,
        t,
        t.astype(np.float64),
        offsets,
        min_time=0,
        max_time=1000,
        frame_samples=10,
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


@pytest.mark.parametrize("padding", [0, 200_000], ids=["small-form", "large-form-in-a-thread"])
async def test_form_bodies_large_and_small_decode_alike(padding: int) -> None:
    """A url-encoded body past INLINE_FORM_BYTES is decoded off the event loop, the same."""
    store = MemStore()
    app = build_app(CollectorRegistry(), query=QueryHandlers(LocalQueryAPI(lambda: store)))
    async with TestClient(TestServer(app)) as c:
        r = await c.post(
            "/api/v1/query",
            data={"query": "vector(1) + 1", "time": "10", "pad": "%" * padding},
        )
        assert r.status == 200
        assert (await r.json())["data"]["result"] == [{"metric": {}, "value": [10, "2"]}]


FORM_ALPHABET = st.sampled_from(
    ["a", "Z", "0", "=", "&", "+", "%", "%2", "%41", "%zz", "%2B", "%26", "%3D", "%E2%82%AC",
     "%ff", "%C3", "é", " ", "~", "\t", "\n"]
)  # fmt: skip


@settings(max_examples=400)
@given(st.lists(FORM_ALPHABET, max_size=30).map("".join))
def test_decode_form_equals_parse_qsl(body: str) -> None:
    """kubeprom's url-encoded form decoding gives what aiohttp's (parse_qsl) gives."""
    raw = body.encode("utf-8")
    want = parse_qsl(raw.rstrip().decode("utf-8"), keep_blank_values=True, errors="replace")
    assert decode_form(raw) == want


def test_decode_form_of_a_4_mib_query_of_escapes_stays_small() -> None:
    body = urlencode({"query": 'up{job=~"' + "a|" * (2 << 20) + 'b"}', "time": "1"}).encode()
    tracemalloc.start()
    try:
        pairs = decode_form(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [name for name, _ in pairs] == ["query", "time"]
    assert pairs[0][1].count("|") == 2 << 20
    assert peak < 20 * len(body)  # parse_qsl needs about 120 bytes per escape


@pytest.mark.parametrize("query", ["up offset NaN", "up offset -nan"])
async def test_a_native_parser_panic_is_a_400(query: str) -> None:
    """promql-parser panics (Rust) on a NaN offset; the panic is a bad_data answer, found by
    the soak's random queries (Prometheus takes Go's integer conversion of NaN instead)."""
    app = build_app(CollectorRegistry(), query=QueryHandlers(LocalQueryAPI(lambda: MemStore())))
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/api/v1/query", params={"query": query, "time": "1"})
        body = await r.json()
    assert (r.status, body["errorType"]) == (400, "bad_data")
    assert body["error"].startswith('invalid parameter "query": 1:1: parse error: cannot parse')


class PanicException(BaseException):
    """Stands for pyo3_runtime.PanicException, a Rust panic crossing into Python."""


class PanickingAPI:
    def instant(self, expr: str, t_ms: int) -> QueryResult:
        raise PanicException("index out of bounds")

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        raise PanicException("index out of bounds")


async def test_a_native_panic_anywhere_is_a_500_in_the_envelope() -> None:
    app = build_app(CollectorRegistry(), query=QueryHandlers(PanickingAPI()))
    async with TestClient(TestServer(app)) as c:
        r = await c.get("/api/v1/query", params={"query": "1", "time": "1"})
        assert (r.status, await r.json()) == (
            500,
            {
                "status": "error",
                "errorType": "internal",
                "error": "internal error: PanicException: index out of bounds",
            },
        )
        r = await c.get("/api/v1/query", params={"query": "1", "time": "1"})
        assert r.status == 500  # the server goes on
