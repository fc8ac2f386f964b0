"""``POST /api/v1/write`` (remote write receiver) and ``POST /api/v1/read`` (remote read).

Both speak Prometheus' protocol (snappy block format around prompb messages) and answer as
Prometheus 2.42 does (``storage/remote/write_handler.go``, ``read_handler.go``): errors are
plain text (``http.Error``), not the JSON envelope.

Write: one appender per request. If any float sample is out of order, a duplicate (same
timestamp, other value) or out of bounds, nothing of the request is stored and the answer
is 400 with Prometheus' message (``out of order sample``, ``duplicate sample for
timestamp``, ``out of bounds``), so the sender does not retry; else 204. When one request
holds samples rejected for different reasons, the message names the reason of the
earliest rejected timestamp. Within one request, a series' samples that are not newer than
its previous sample in the request are dropped silently, as Prometheus' commit does.
Exemplars and metadata are ignored (Prometheus 2.42 without exemplar storage does the
same); native histograms are refused with 400 (kubeprom stores float samples only).

Read: samples response only (``STREAMED_XOR_CHUNKS`` alone is refused with 400, as a
server supporting neither would); equality matchers on external label names are dropped
and the external labels are added to each series (its own labels win); more than
``sample_limit`` samples in one query answers 400.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import numpy as np
from aiohttp import web

from kubeprom.errors import ValidationError
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.remote.protocol import (
    READ_HEADERS,
    ProtocolError,
    compress,
    decode_read_request,
    decode_write_request,
    encode_query_result,
    encode_read_response,
)
from kubeprom.tsdb.api import Appender, Querier

log = logging.getLogger(__name__)

MAX_DECODED_BYTES = 256 << 20  # a decompressed request larger than this is refused
DEFAULT_READ_SAMPLE_LIMIT = 50_000_000  # --storage.remote.read-sample-limit
DEFAULT_READ_CONCURRENCY = 10  # --storage.remote.read-concurrent-limit

OUT_OF_ORDER = "out of order sample"
DUPLICATE = "duplicate sample for timestamp"
OUT_OF_BOUNDS = "out of bounds"


def _text_error(message: str, status: int) -> web.Response:
    """Go's http.Error: the message and a newline, as plain text."""
    return web.Response(
        status=status,
        text=message + "\n",
        headers={"X-Content-Type-Options": "nosniff"},
        content_type="text/plain",
        charset="utf-8",
    )


def _in_order(series: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Mask of samples newer than every earlier sample of their series (request order)."""
    n = t.size
    order = np.lexsort((np.arange(n), series))
    s_sorted, t_sorted = series[order], t[order]
    same = s_sorted[1:] == s_sorted[:-1]
    if not np.any(same & (t_sorted[1:] <= t_sorted[:-1])):
        return np.ones(n, dtype=bool)
    keep = np.ones(n, dtype=bool)
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:], n]
    bad = np.flatnonzero(np.r_[False, same & (t_sorted[1:] <= t_sorted[:-1])])
    # Only the series that have a sample out of order are walked one by one.
    for g in np.unique(np.searchsorted(starts, bad, side="right") - 1).tolist():
        a, b = int(starts[g]), int(ends[g])
        running = np.maximum.accumulate(t_sorted[a:b])
        ok = np.r_[True, t_sorted[a + 1 : b] > running[:-1]]
        keep[order[a:b][~ok]] = False
    return keep


class RemoteWriteReceiver:
    """Stores remote-written samples through the store's Appender."""

    def __init__(self, appender: Callable[[], Appender], max_bytes: int = MAX_DECODED_BYTES):
        self._appender = appender
        self._max_bytes = max_bytes

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/write", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            req = decode_write_request(body, self._max_bytes)
        except ProtocolError as err:
            log.error("error decoding remote write request err=%s", err)
            return _text_error(str(err), 400)
        if req.histograms:
            return _text_error(
                f"native histograms are not supported by kubeprom ({req.histograms} in the "
                "request)",
                400,
            )
        message = self._write(req.series, req.series_index, req.t, req.v)
        if message is not None:
            return _text_error(message, 400)
        return web.Response(status=204)

    def _write(
        self, series: list[Labels], index: np.ndarray, t: np.ndarray, v: np.ndarray
    ) -> str | None:
        if t.size == 0:
            return None
        app = self._appender()
        try:
            refs_of = np.array([app.ref(labels) for labels in series], dtype=np.int64)
        except ValidationError as err:
            return str(err)
        refs = refs_of[index]
        keep = _in_order(refs, t)
        refs, t, v = refs[keep], t[keep], v[keep]
        order = np.argsort(t, kind="stable")
        refs, t, v = refs[order], t[order], v[order]
        cuts = np.flatnonzero(np.diff(t)) + 1
        starts, ends = np.r_[0, cuts].tolist(), np.r_[cuts, t.size].tolist()
        for a, b in zip(starts, ends, strict=True):  # per distinct timestamp
            stats = app.append(int(t[a]), refs[a:b], v[a:b])
            reason = (
                OUT_OF_BOUNDS
                if stats.out_of_bounds
                else OUT_OF_ORDER
                if stats.out_of_order
                else DUPLICATE
                if stats.duplicate
                else None
            )
            if reason is not None:
                app.rollback()
                log.error("out of order sample from remote write err=%s timestamp=%d", reason, t[a])
                return reason
        app.commit()
        return None


class RemoteReadHandler:
    """Answers remote read with raw samples from the store."""

    def __init__(
        self,
        querier: Callable[[], Querier],
        external_labels: Callable[[], Mapping[str, str]],
        *,
        sample_limit: int = DEFAULT_READ_SAMPLE_LIMIT,
        concurrency: int = DEFAULT_READ_CONCURRENCY,
        max_bytes: int = MAX_DECODED_BYTES,
    ) -> None:
        self._querier = querier
        self._external = external_labels
        self._limit = sample_limit
        self._gate = asyncio.Semaphore(concurrency)
        self._max_bytes = max_bytes

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/read", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        async with self._gate:
            body = await request.read()
            try:
                queries, accepted = decode_read_request(body, self._max_bytes)
            except ProtocolError as err:
                return _text_error(str(err), 400)
            if accepted and 0 not in accepted:
                names = ["SAMPLES", "STREAMED_XOR_CHUNKS"]
                asked = " ".join(names[a] if a < len(names) else str(a) for a in accepted)
                return _text_error(
                    f"server does not support any of the requested response types: [{asked}]; "
                    "supported: [SAMPLES]",
                    400,
                )
            external = dict(self._external())
            results = []
            for q in queries:
                try:
                    matchers = [
                        Matcher(MatchType(op), name, value)
                        for op, name, value in q.matchers
                        if not (op == "=" and name in external)
                    ]
                except ValidationError as err:
                    return _text_error(str(err), 400)
                ss = await asyncio.to_thread(self._querier().select, matchers, q.start_ms, q.end_ms)
                if ss.num_samples > self._limit:
                    return _text_error(f"exceeded sample limit ({self._limit})", 400)
                labels = ss.labels
                if external:
                    labels = [Labels({**external, **ls.to_dict()}.items()) for ls in labels]
                results.append(encode_query_result(labels, ss.t, ss.v, ss.offsets))
            data = compress(encode_read_response(results))
            return web.Response(body=data, headers=READ_HEADERS)
