"""/api/v1/query and /api/v1/query_range: Prometheus' JSON shapes, number formats and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.model import Labels
from kubeprom.model.gofmt import format_f
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import DB, Options
from kubeprom.web import build_app
from kubeprom.web.query import QueryHandlers


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
    client: TestClient,
    params: dict[str, str],
    status: int,
    kind: str,
    message: str,  # type: ignore[type-arg]
) -> None:
    r = await client.get("/api/v1/query", params=params)
    body = await r.json()
    assert r.status == status
    assert body["status"] == "error"
    assert body["errorType"] == kind
    assert message in body["error"]


def test_bulk_formatting_equals_one_by_one() -> None:
    from kubeprom.web.query import _values_text

    values = [1.0, 0.5, 1e21, 1.5e-7, float("nan"), float("inf"), -0.0, 1e16, 0.1, 2.0**60]
    assert _values_text(values) == [format_f(v) for v in values]


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
