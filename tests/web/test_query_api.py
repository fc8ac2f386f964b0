"""/api/v1/query and /api/v1/query_range: Prometheus' JSON shapes, number formats and errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.model import Labels
from kubeprom.model.gofmt import format_f
from kubeprom.model.samples import F64Array
from kubeprom.promql.api import LocalQueryAPI, QueryResult, ResultType
from kubeprom.tsdb import DB, Options
from kubeprom.web import build_app
from kubeprom.web.query import (
    QueryHandlers,
    _labels_json,
    _values_text,
    format_time,
    result_text,
)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    db = DB.open(tmp_path, Options(retention_ms=None))
    app = db.appender()
    refs = np.array([app.ref(Labels({"__name__": "up", "job": j}.items())) for j in ("a", "b")])
    for k in range(5):
        app.append(1_700_000_000_000 + k * 15_000, refs, np.array([1.0, 0.0]))
    app.commit()
    web_app = build_app(CollectorRegistry(), query=QueryHandlers(LocalQueryAPI(db.querier)))
    async with TestClient(TestServer(web_app)) as c:
        yield c
    db.close()


async def test_instant_vector(client: TestClient) -> None:  # type: ignore[type-arg]
    r = await client.get("/api/v1/query", params={"query": "up", "time": "1700000060"})
    assert r.status == 200
    assert await r.json() == {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "up", "job": "a"}, "value": [1700000060, "1"]},
                {"metric": {"__name__": "up", "job": "b"}, "value": [1700000060, "0"]},
            ],
        },
    }


async def test_range_matrix_by_form_post_with_rfc3339(client: TestClient) -> None:  # type: ignore[type-arg]
    r = await client.post(
        "/api/v1/query_range",
        data={
            "query": 'up{job="a"} * 2',
            "start": "2023-11-14T22:13:20Z",
            "end": "2023-11-14T22:13:50.5Z",
            "step": "15s",
        },
    )
    body = await r.json()
    assert body["data"] == {
        "resultType": "matrix",
        "result": [
            {
                "metric": {"job": "a"},
                "values": [[1700000000, "2"], [1700000015, "2"], [1700000030, "2"]],
            }
        ],
    }


async def test_scalar(client: TestClient) -> None:  # type: ignore[type-arg]
    r = await client.get("/api/v1/query", params={"query": "1.5 * 2", "time": "1700000000.5"})
    assert (await r.json())["data"] == {"resultType": "scalar", "result": [1700000000.5, "3"]}


@pytest.mark.parametrize(
    ("params", "status", "kind", "message"),
    [
        (
            {"query": "sum(", "time": "1"},
            400,
            "bad_data",
            "1:5: parse error: unclosed left parenthesis",
        ),
        (
            {"query": "rate(up)", "time": "1"},
            400,
            "bad_data",
            'expected type range vector in call to function "rate", got instant vector',
        ),
        (
            {"query": "up", "time": "yesterday"},
            400,
            "bad_data",
            "invalid parameter \"time\": invalid time value for 'time': "
            'cannot parse "yesterday" to a valid timestamp',
        ),
        ({}, 400, "bad_data", 'invalid parameter "query"'),
    ],
    ids=["parse", "type", "time", "missing"],
)
async def test_errors_use_prometheus_envelope(
    client: TestClient[web.Request, web.Application],
    params: dict[str, str],
    status: int,
    kind: str,
    message: str,
) -> None:
    r = await client.get("/api/v1/query", params=params)
    body = await r.json()
    assert r.status == status
    assert body["status"] == "error"
    assert body["errorType"] == kind
    assert message in body["error"]


@pytest.mark.parametrize(
    "values",
    [
        [1.0, 0.5, 1e21, 1.5e-7, float("nan"), float("inf"), -0.0, 1e16, 0.1, 2.0**60],
        [0.0, 1.0, 3.0, 1e15 - 1, 123456789.0, -5.0],  # all integral: the int path
        [-0.0, 7.0],
        [1e15, 999999999999999.0, -1e15, 2.5],
        [],
    ],
    ids=["mixed", "integers", "negative-zero", "bounds", "empty"],
)
def test_bulk_formatting_equals_one_by_one(values: list[float]) -> None:
    for n in (1, 70):  # one by one up to _SMALL values, in bulk beyond
        repeated = values * n
        got = _values_text(np.array(repeated, dtype=np.float64))
        assert got == [format_f(v) for v in repeated]


def _generated_values(seed: int) -> F64Array:
    """Every kind of double: random bit patterns (all exponents, subnormals), decimals of
    every magnitude, integers, and the neighbours of where repr switches to exponents."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**64, 20_000, dtype=np.uint64).view(np.float64)
    scale = 10.0 ** rng.integers(-12, 22, 20_000).astype(np.float64)
    decimals = np.round(rng.random(20_000) * scale, 3)
    edges = np.array([1e-4, 1e16, 1e15, 1e-5, 2.0**53, 5e-324, 0.0, -0.0, np.nan, np.inf])
    edges = np.concatenate([edges, -edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf)])
    ints = rng.integers(-(2**62), 2**62, 2_000).astype(np.float64)
    return np.concatenate([bits, decimals, -decimals, edges, ints, rng.random(2_000)])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bulk_formatting_of_generated_values_equals_format_f(seed: int) -> None:
    values = _generated_values(seed)
    assert _values_text(values) == [format_f(v) for v in values.tolist()]
    whole = np.trunc(values[np.isfinite(values)]) % 1e15  # the integers' own path
    assert _values_text(whole) == [format_f(v) for v in whole.tolist()]


def test_labels_with_bytes_that_are_not_utf8_are_written_as_json_writes_them() -> None:
    labels = Labels({"__name__": "m", "raw": "caf\udce9"}.items())  # b"caf\xe9", surrogate-escaped
    expected = json.dumps(labels.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert _labels_json(labels) == expected == '{"__name__":"m","raw":"caf\udce9"}'


def _reference_text(r: QueryResult) -> str:
    """The data object through json.dumps of nested lists, value by value."""
    rows: list[dict[str, object]] = []
    for labels, t, v in r.series():
        points = [[format_time(int(a)), format_f(float(b))] for a, b in zip(t, v, strict=True)]
        if r.result_type is ResultType.VECTOR:
            rows.append({"metric": labels.to_dict(), "value": points[0]})
        else:
            rows.append({"metric": labels.to_dict(), "values": points})
    return json.dumps(
        {"resultType": r.result_type.value, "result": rows},
        ensure_ascii=False,
        separators=(",", ":"),
    )


@pytest.mark.parametrize("kind", [ResultType.MATRIX, ResultType.VECTOR])
@pytest.mark.parametrize("points", [1, 3, 40])
def test_result_text_equals_json_of_the_values(kind: ResultType, points: int) -> None:
    names = ["a", 'quote"d', "back\\slash", "new\nline", "tab\t", "\x01ctl", "ü ✓ 𝄞", "\u2028"]
    series = 90 if kind is ResultType.VECTOR else 30
    per = 1 if kind is ResultType.VECTOR else points
    labels = [
        Labels({"__name__": "m", "i": str(i), "v": names[i % len(names)]}.items())
        for i in range(series)
    ]
    t = np.tile(1_700_000_000_000 + np.arange(per) * 15_500, series)
    t[::7] -= 1  # ms that are not whole seconds
    v = _generated_values(points)[: series * per]
    r = QueryResult(kind, labels, t, v, np.arange(series + 1, dtype=np.int64) * per)
    assert result_text(r) == _reference_text(r)


async def test_limit_truncates_series_with_a_warning(client: TestClient) -> None:  # type: ignore[type-arg]
    r = await client.get(
        "/api/v1/query", params={"query": "up", "time": "1700000060", "limit": "1"}
    )
    body = await r.json()
    assert body["data"]["result"] == [
        {"metric": {"__name__": "up", "job": "a"}, "value": [1700000060, "1"]}
    ]
    assert body["warnings"] == ["results truncated due to limit"]
    r = await client.get(
        "/api/v1/query_range",
        params={
            "query": "up",
            "start": "1700000000",
            "end": "1700000030",
            "step": "15",
            "limit": "5",
        },
    )
    body = await r.json()
    assert len(body["data"]["result"]) == 2
    assert "warnings" not in body
