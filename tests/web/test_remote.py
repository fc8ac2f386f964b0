"""``POST /api/v1/write`` and ``POST /api/v1/read`` answer as Prometheus 2.42 does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.model import Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.remote.protocol import compress, decompress, message_class
from kubeprom.tsdb import DB, Options
from kubeprom.web import build_app
from kubeprom.web.remote import RemoteReadHandler, RemoteWriteReceiver

T0 = 1_700_000_000_000


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[TestClient, DB]]:
    db = DB.open(tmp_path, Options(retention_ms=None))
    app = build_app(
        CollectorRegistry(),
        remote_write=RemoteWriteReceiver(db.appender),
        remote_read=RemoteReadHandler(db.querier, lambda: {"site": "x"}, sample_limit=100),
    )
    async with TestClient(TestServer(app)) as client:
        yield client, db
    db.close()


def write_body(series: list[tuple[dict[str, str], list[tuple[int, float]]]]) -> bytes:
    req = message_class("WriteRequest")()
    for labels, samples in series:
        ts = req.timeseries.add()
        for name, value in labels.items():
            ts.labels.add(name=name, value=value)
        for t, v in samples:
            ts.samples.add(timestamp=t, value=v)
    return compress(req.SerializeToString())


def stored(db: DB, name: str) -> list[tuple[int, float]]:
    ss = db.querier().select([Matcher(MatchType.EQUAL, "__name__", name)], 0, 2**62)
    return list(zip(ss.t.tolist(), ss.v.tolist(), strict=True))


async def post_write(client: TestClient, body: bytes) -> tuple[int, str]:
    resp = await client.post(
        "/api/v1/write",
        data=body,
        headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"},
    )
    return resp.status, await resp.text()


async def test_write_stores_samples(server: tuple[TestClient, DB]) -> None:
    client, db = server
    body = write_body(
        [
            ({"__name__": "a", "job": "j"}, [(T0, 1.0), (T0 + 10, 2.0)]),
            ({"__name__": "b"}, [(T0, 5.0)]),
        ]
    )
    assert await post_write(client, body) == (204, "")
    assert stored(db, "a") == [(T0, 1.0), (T0 + 10, 2.0)]
    assert stored(db, "b") == [(T0, 5.0)]


@pytest.mark.parametrize(
    ("second", "status", "text"),
    [
        ((T0 - 1, 9.0), 400, "out of order sample\n"),
        ((T0 + 10, 9.0), 400, "duplicate sample for timestamp\n"),
        ((T0 + 10, 2.0), 204, ""),  # the same sample again is accepted silently
    ],
    ids=["out-of-order", "duplicate", "identical"],
)
async def test_rejected_samples_reject_the_whole_request(
    server: tuple[TestClient, DB], second: tuple[int, float], status: int, text: str
) -> None:
    client, db = server
    assert (
        await post_write(client, write_body([({"__name__": "a"}, [(T0, 1.0), (T0 + 10, 2.0)])]))
    )[0] == 204
    body = write_body([({"__name__": "c"}, [(T0 + 50, 1.0)]), ({"__name__": "a"}, [second])])
    assert await post_write(client, body) == (status, text)
    assert stored(db, "c") == ([(T0 + 50, 1.0)] if status == 204 else [])
    assert stored(db, "a") == [(T0, 1.0), (T0 + 10, 2.0)]


async def test_within_a_request_older_samples_of_a_series_are_dropped(
    server: tuple[TestClient, DB],
) -> None:
    client, db = server
    body = write_body([({"__name__": "a"}, [(T0 + 20, 2.0), (T0 + 10, 1.0), (T0 + 30, 3.0)])])
    assert await post_write(client, body) == (204, "")
    assert stored(db, "a") == [(T0 + 20, 2.0), (T0 + 30, 3.0)]


async def test_bad_bodies_are_400(server: tuple[TestClient, DB]) -> None:
    client, _ = server
    status, text = await post_write(client, b"not snappy at all \xff\xff")
    assert status == 400
    assert text.startswith("snappy: corrupt input")
    status, text = await post_write(client, compress(b"\x0a\x09\x0a"))
    assert status == 400
    assert text.startswith("cannot parse WriteRequest")
    req = message_class("WriteRequest")()
    req.timeseries.add().histograms.append(b"\x08\x01")
    status, text = await post_write(client, compress(req.SerializeToString()))
    assert (status, text) == (
        400,
        "native histograms are not supported by kubeprom (1 in the request)\n",
    )


async def test_receiver_off_is_404_with_prometheus_words(tmp_path: Path) -> None:
    app = build_app(CollectorRegistry())
    async with TestClient(TestServer(app)) as client:
        status, text = await post_write(client, write_body([]))
    assert (status, text) == (
        404,
        "remote write receiver needs to be enabled with --enable-feature=remote-write-receiver\n",
    )


def read_body(
    start: int, end: int, matchers: list[tuple[int, str, str]], types: list[int] = ()
) -> bytes:
    req = message_class("ReadRequest")()
    q = req.queries.add(start_timestamp_ms=start, end_timestamp_ms=end)
    for kind, name, value in matchers:
        q.matchers.add(type=kind, name=name, value=value)
    req.accepted_response_types.extend(types)
    return compress(req.SerializeToString())


async def test_remote_read_returns_samples_with_external_labels(
    server: tuple[TestClient, DB],
) -> None:
    client, db = server
    app = db.appender()
    refs = np.array(
        [
            app.ref(Labels.from_dict({"__name__": "m", "job": "a"})),
            app.ref(Labels.from_dict({"__name__": "m", "job": "b", "site": "own"})),
        ]
    )
    for k in range(5):
        app.append(T0 + 1000 * k, refs, np.array([k, 10.0 + k]))
    app.commit()
    # site="x" is an external label: the matcher is dropped, not applied.
    body = read_body(T0 + 1000, T0 + 3000, [(0, "__name__", "m"), (0, "site", "x")])
    resp = await client.post("/api/v1/read", data=body)
    assert resp.status == 200
    assert resp.headers["Content-Encoding"] == "snappy"
    result = message_class("ReadResponse").FromString(decompress(await resp.read(), 1 << 20))
    got = [
        ({lb.name: lb.value for lb in ts.labels}, [(s.timestamp, s.value) for s in ts.samples])
        for ts in result.results[0].timeseries
    ]
    assert got == [
        (
            {"__name__": "m", "job": "a", "site": "x"},
            [(T0 + 1000, 1.0), (T0 + 2000, 2.0), (T0 + 3000, 3.0)],
        ),
        (
            {"__name__": "m", "job": "b", "site": "own"},
            [(T0 + 1000, 11.0), (T0 + 2000, 12.0), (T0 + 3000, 13.0)],
        ),
    ]


async def test_remote_read_refusals(server: tuple[TestClient, DB]) -> None:
    client, db = server
    app = db.appender()
    ref = app.ref(Labels.from_dict({"__name__": "m"}))
    for k in range(101):
        app.append(T0 + k, np.array([ref]), np.array([1.0]))
    app.commit()
    resp = await client.post(
        "/api/v1/read", data=read_body(T0, T0 + 200, [(0, "__name__", "m")], [1])
    )
    assert resp.status == 400
    assert await resp.text() == (
        "server does not support any of the requested response types: [STREAMED_XOR_CHUNKS]; "
        "supported: [SAMPLES]\n"
    )
    resp = await client.post(
        "/api/v1/read", data=read_body(T0, T0 + 50, [(0, "__name__", "m")], [1, 0])
    )
    assert resp.status == 200
    resp = await client.post("/api/v1/read", data=read_body(T0, T0 + 200, [(0, "__name__", "m")]))
    assert (resp.status, await resp.text()) == (400, "exceeded sample limit (100)\n")
