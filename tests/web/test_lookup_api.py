"""Series, labels, metadata, status, federation and admin endpoints in Prometheus' shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.clock import VirtualClock
from kubeprom.errors import ConfigError
from kubeprom.model import Labels
from kubeprom.model.samples import STALE_NAN
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import DB, MetricMetadata, MetricType, Options
from kubeprom.tsdb.stats import head_stats
from kubeprom.web import (
    AdminHandlers,
    FederateHandler,
    QueryHandlers,
    SeriesHandlers,
    ServerStatus,
    build_app,
)

T0 = 1_700_000_000_000
NOW = T0 + 60_000


class FakeTargets:
    def target_metadata(self) -> list[tuple[Labels, dict[str, MetricMetadata]]]:
        return [
            (
                Labels.from_dict({"job": "node", "instance": "a:9100"}),
                {"up": MetricMetadata(MetricType.GAUGE, "Target is up.", "")},
            ),
            (
                Labels.from_dict({"job": "api", "instance": "b:80"}),
                {
                    "http_requests_total": MetricMetadata(MetricType.COUNTER, "Requests.", ""),
                    "up": MetricMetadata(MetricType.GAUGE, "Target is up.", ""),
                },
            ),
        ]


def _fill(db: DB) -> None:
    app = db.appender()
    rows = [
        {"__name__": "up", "job": "node", "instance": "a:9100"},
        {"__name__": "up", "job": "api", "instance": "b:80"},
        {"__name__": "http_requests_total", "job": "api", "instance": "b:80", "code": "200"},
        {"__name__": "http_requests_total", "job": "api", "instance": "b:80", "code": "500"},
        {"__name__": "gone", "job": "api"},
    ]
    refs = np.array([app.ref(Labels.from_dict(r)) for r in rows])
    for k in range(5):
        values = np.array([1.0, 0.0, 10.0 * k, 1.0 * k, 7.0])
        if k == 4:
            values[4] = STALE_NAN
        app.append(T0 + k * 15_000, refs, values)
    app.append_metadata("up", MetricMetadata(MetricType.GAUGE, "Target is up.", ""))
    app.append_metadata("http_requests_total", MetricMetadata(MetricType.COUNTER, "Requests.", ""))
    app.commit()


@pytest.fixture
def db(tmp_path: Path) -> AsyncIterator[DB]:
    store = DB.open(tmp_path / "data", Options(retention_ms=None))
    _fill(store)
    yield store
    store.close()


Client = TestClient  # type: ignore[type-arg]


@pytest.fixture
async def client(db: DB) -> AsyncIterator[Client]:
    reloads: list[int] = []

    async def reload() -> None:
        reloads.append(1)

    status = ServerStatus(
        config_yaml=lambda: "global:\n  scrape_interval: 15s\n",
        tsdb_stats=lambda limit: head_stats(db.head, limit),
        flags={"storage.tsdb.path": "data", "web.enable-admin-api": "true"},
        storage_retention="15d",
        start_time_ms=T0,
    )
    app = build_app(
        CollectorRegistry(),
        clock=VirtualClock(NOW),
        query=QueryHandlers(LocalQueryAPI(db.querier)),
        series=SeriesHandlers(db.querier, targets=FakeTargets()),
        status=status,
        federate=FederateHandler(db.querier, external_labels=lambda: {"cluster": "eu"}),
        admin=AdminHandlers(db),
        reload=reload,
    )
    async with TestClient(TestServer(app)) as c:
        c.reloads = reloads  # type: ignore[attr-defined]
        yield c


async def _json(r: Any) -> Any:
    assert r.content_type == "application/json"
    return await r.json()


async def test_series_unions_match_sets_sorted(client: Client) -> None:
    r = await client.get(
        "/api/v1/series",
        params=[("match[]", 'up{job="api"}'), ("match[]", 'http_requests_total{code="500"}')],
    )
    assert r.status == 200
    assert await _json(r) == {
        "status": "success",
        "data": [
            {"__name__": "http_requests_total", "code": "500", "instance": "b:80", "job": "api"},
            {"__name__": "up", "instance": "b:80", "job": "api"},
        ],
    }


async def test_series_by_form_post_with_limit_warns_when_truncated(client: Client) -> None:
    r = await client.post("/api/v1/series", data={"match[]": "up", "limit": "1"})
    assert await _json(r) == {
        "status": "success",
        "data": [{"__name__": "up", "instance": "a:9100", "job": "node"}],
        "warnings": ["results truncated due to limit"],
    }


async def test_series_time_range_excludes_series_without_samples(client: Client) -> None:
    r = await client.get(
        "/api/v1/series", params={"match[]": "up", "start": "1600000000", "end": "1600000100"}
    )
    assert (await _json(r))["data"] == []


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/series", {}, "no match[] parameter provided"),
        (
            "/api/v1/series",
            {"match[]": "up", "limit": "-1"},
            'invalid parameter "limit": limit must be non-negative',
        ),
        (
            "/api/v1/labels",
            {"match[]": '{job=""}'},
            "match[] must contain at least one non-empty matcher",
        ),
        (
            "/api/v1/labels",
            {"start": "x"},
            "invalid parameter \"start\": invalid time value for 'start': "
            'cannot parse "x" to a valid timestamp',
        ),
        ("/api/v1/series", {"match[]": "up{"}, 'invalid parameter "match[]": 1:'),
        ("/api/v1/metadata", {"limit": "x"}, "limit must be a number"),
        ("/api/v1/status/tsdb", {"limit": "0"}, "limit must be a positive number"),
        (
            "/api/v1/format_query",
            {"query": "sum("},
            'invalid parameter "query": 1:5: parse error: unclosed left parenthesis',
        ),
    ],
    ids=[
        "series-no-match",
        "negative-limit",
        "empty-matcher",
        "bad-start",
        "bad-selector",
        "metadata-limit",
        "tsdb-limit",
        "format-parse",
    ],
)
async def test_bad_parameters_are_400_bad_data(
    client: Client, path: str, params: dict[str, str], message: str
) -> None:
    r = await client.get(path, params=params)
    body = await _json(r)
    assert r.status == 400
    assert body["status"] == "error"
    assert body["errorType"] == "bad_data"
    assert body["error"].startswith(message)


async def test_labels_and_label_values(client: Client) -> None:
    r = await client.get("/api/v1/labels")
    assert (await _json(r))["data"] == ["__name__", "code", "instance", "job"]
    r = await client.post("/api/v1/labels", data={"match[]": "up"})
    assert (await _json(r))["data"] == ["__name__", "instance", "job"]
    r = await client.get("/api/v1/label/__name__/values")
    assert (await _json(r))["data"] == ["gone", "http_requests_total", "up"]
    r = await client.get("/api/v1/label/job/values", params={"match[]": "up", "limit": "1"})
    assert await _json(r) == {
        "status": "success",
        "data": ["api"],
        "warnings": ["results truncated due to limit"],
    }
    r = await client.get("/api/v1/label/nope/values")
    assert (await _json(r))["data"] == []


async def test_metadata(client: Client) -> None:
    r = await client.get("/api/v1/metadata")
    assert (await _json(r))["data"] == {
        "http_requests_total": [{"type": "counter", "help": "Requests.", "unit": ""}],
        "up": [{"type": "gauge", "help": "Target is up.", "unit": ""}],
    }
    r = await client.get("/api/v1/metadata", params={"metric": "up"})
    assert list((await _json(r))["data"]) == ["up"]
    r = await client.get("/api/v1/metadata", params={"limit": "1"})
    assert len((await _json(r))["data"]) == 1


async def test_targets_metadata(client: Client) -> None:
    r = await client.get(
        "/api/v1/targets/metadata", params={"match_target": '{job="api"}', "metric": "up"}
    )
    assert (await _json(r))["data"] == [
        {
            "target": {"instance": "b:80", "job": "api"},
            "type": "gauge",
            "help": "Target is up.",
            "unit": "",
        }
    ]
    r = await client.get("/api/v1/targets/metadata")
    data = (await _json(r))["data"]
    assert [(d["target"]["job"], d["metric"]) for d in data] == [
        ("node", "up"),
        ("api", "http_requests_total"),
        ("api", "up"),
    ]


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/api/v1/rules", {"groups": []}),
        ("/api/v1/alerts", {"alerts": []}),
        ("/api/v1/status/config", {"yaml": "global:\n  scrape_interval: 15s\n"}),
        ("/api/v1/status/flags", {"storage.tsdb.path": "data", "web.enable-admin-api": "true"}),
        ("/api/v1/format_query?query=sum(rate(x[5m]))%20by%20(a)", "sum by (a) (rate(x[5m]))"),
    ],
    ids=["rules", "alerts", "config", "flags", "format_query"],
)
async def test_fixed_shapes(client: Client, path: str, data: Any) -> None:
    r = await client.get(path)
    assert await _json(r) == {"status": "success", "data": data}


async def test_buildinfo_and_runtimeinfo(client: Client) -> None:
    info = (await _json(await client.get("/api/v1/status/buildinfo")))["data"]
    assert sorted(info) == ["branch", "buildDate", "buildUser", "goVersion", "revision", "version"]
    assert info["version"] == "0.1.0"
    rt = (await _json(await client.get("/api/v1/status/runtimeinfo")))["data"]
    assert rt["storageRetention"] == "15d"
    assert rt["reloadConfigSuccess"] is True
    # Both times come from the app's clock (pinned at NOW) and the status (started at T0).
    assert rt["startTime"] == "2023-11-14T22:13:20Z"
    assert rt["lastConfigTime"] == "2023-11-14T22:13:20Z"
    assert rt["serverTime"] == "2023-11-14T22:14:20Z"


async def test_tsdb_status_counts_cardinality(client: Client) -> None:
    r = await client.get("/api/v1/status/tsdb", params={"limit": "2"})
    data = (await _json(r))["data"]
    assert data["headStats"] == {
        "numSeries": 5,
        "numLabelPairs": 9,
        "chunkCount": 5,
        "minTime": T0,
        "maxTime": T0 + 60_000,
    }
    assert data["seriesCountByMetricName"] == [
        {"name": "http_requests_total", "value": 2},
        {"name": "up", "value": 2},
    ]
    assert data["labelValueCountByLabelName"] == [
        {"name": "__name__", "value": 3},
        {"name": "code", "value": 2},
    ]
    assert data["seriesCountByLabelValuePair"] == [
        {"name": "job=api", "value": 4},
        {"name": "instance=b:80", "value": 3},
    ]
    # "http_requests_total" (19 bytes) x 2 series + "up" x 2 + "gone" x 1
    assert data["memoryInBytesByLabelName"][0] == {"name": "__name__", "value": 19 * 2 + 4 + 4}


async def test_unknown_api_path_is_json_404(client: Client) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status == 404
    assert await _json(r) == {"status": "error", "errorType": "not_found", "error": "not found"}
    r = await client.get("/nope")
    assert r.status == 404
    assert r.content_type == "text/plain"


async def test_federate_latest_sample_with_external_and_instance_labels(client: Client) -> None:
    r = await client.get(
        "/federate", params=[("match[]", "http_requests_total"), ("match[]", '{job="api"}')]
    )
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    # "gone" ends with a staleness marker and is left out; up{job="api"} lacks nothing.
    assert await r.text() == (
        "# TYPE http_requests_total untyped\n"
        f'http_requests_total{{code="200",instance="b:80",job="api",cluster="eu"}} 40 {NOW}\n'
        f'http_requests_total{{code="500",instance="b:80",job="api",cluster="eu"}} 4 {NOW}\n'
        "# TYPE up untyped\n"
        f'up{{instance="b:80",job="api",cluster="eu"}} 0 {NOW}\n'
    )


async def test_federate_attaches_empty_instance(client: Client, db: DB) -> None:
    app = db.appender()
    ref = app.ref(Labels.from_dict({"__name__": "lone", "job": "x"}))
    app.append(NOW - 1000, np.array([ref]), np.array([1.5e-7]))
    app.commit()
    r = await client.get("/federate", params={"match[]": "lone"})
    assert await r.text() == (
        f'# TYPE lone untyped\nlone{{job="x",cluster="eu",instance=""}} 1.5e-07 {NOW - 1000}\n'
    )


async def test_federate_requires_match(client: Client) -> None:
    r = await client.get("/federate")
    assert r.status == 400
    assert await r.text() == "no match[] parameter provided\n"


async def test_reload_calls_back(client: Client) -> None:
    r = await client.post("/-/reload")
    assert r.status == 200
    assert client.reloads == [1]  # type: ignore[attr-defined]


async def test_reload_failure_is_500(db: DB) -> None:
    async def reload() -> None:
        raise ConfigError("bad thing", file="k.yml", line=3, col=1)

    app = build_app(CollectorRegistry(), reload=reload)
    async with TestClient(TestServer(app)) as c:
        r = await c.post("/-/reload")
        assert r.status == 500
        assert await r.text() == "failed to reload config: k.yml:3:1: bad thing\n"


async def test_metrics_count_requests_and_queries(client: Client) -> None:
    await client.get("/api/v1/query", params={"query": "up"})
    await client.get("/api/v1/label/job/values")
    await client.get("/api/v1/query", params={"query": "sum("})
    text = await (await client.get("/metrics")).text()
    assert 'prometheus_http_requests_total{code="200",handler="/api/v1/query"} 1.0' in text
    assert 'prometheus_http_requests_total{code="400",handler="/api/v1/query"} 1.0' in text
    assert (
        'prometheus_http_requests_total{code="200",handler="/api/v1/label/:name/values"} 1.0'
        in text
    )
    assert 'prometheus_engine_query_duration_seconds_count{slice="inner_eval"} 1.0' in text
    assert "prometheus_engine_queries_concurrent_max 20.0" in text


async def test_admin_snapshot_is_an_openable_data_directory(client: Client, db: DB) -> None:
    r = await client.post("/api/v1/admin/tsdb/snapshot")
    body = await _json(r)
    name = body["data"]["name"]
    assert r.status == 200
    assert name.startswith("20231114T221420Z-")  # named after the app clock's "now"
    snap = db.path / "snapshots" / name
    copy = DB.open(snap, Options(retention_ms=None))
    try:
        got = copy.querier().series([], -(2**62), 2**62)
        want = db.querier().series([], -(2**62), 2**62)
        assert got == want
        assert len(got) == 5
    finally:
        copy.close()


async def test_admin_delete_series_deletes_the_range_of_matching_series(
    client: Client, db: DB
) -> None:
    r = await client.post(
        "/api/v1/admin/tsdb/delete_series",
        data={"match[]": 'http_requests_total{code="500"}', "start": str((T0 + 15_000) / 1000)},
    )
    assert r.status == 204
    assert await r.read() == b""
    got = {
        s.labels.get("code"): s.t.tolist()
        for s in db.querier().select([], -(2**62), 2**62)
        if s.labels.get("__name__") == "http_requests_total"
    }
    assert got == {"200": [T0 + k * 15_000 for k in range(5)], "500": [T0]}
    r = await client.post(
        "/api/v1/admin/tsdb/delete_series", data=[("match[]", "up"), ("match[]", "gone")]
    )
    assert r.status == 204
    names = {
        s["__name__"]
        for s in (
            await _json(await client.get("/api/v1/series", params={"match[]": '{job=~".+"}'}))
        )["data"]
    }
    assert names == {"http_requests_total"}
    r = await client.post("/api/v1/admin/tsdb/clean_tombstones")
    assert r.status == 204


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "no match[] parameter provided"),
        ({"match[]": "sum(up)"}, 'invalid parameter "match[]": '),
        ({"match[]": "up", "end": "x"}, 'invalid parameter "end": '),
    ],
    ids=["no-match", "not-a-selector", "bad-end"],
)
async def test_admin_delete_series_rejects_bad_requests(
    client: Client, data: dict[str, str], error: str
) -> None:
    r = await client.post("/api/v1/admin/tsdb/delete_series", data=data)
    body = await _json(r)
    assert r.status == 400
    assert body["errorType"] == "bad_data"
    assert body["error"].startswith(error)


async def test_admin_disabled_by_default(db: DB) -> None:
    async with TestClient(TestServer(build_app(CollectorRegistry()))) as c:
        for path in ("snapshot", "delete_series", "clean_tombstones"):
            r = await c.post(f"/api/v1/admin/tsdb/{path}")
            assert r.status == 503
            assert await _json(r) == {
                "status": "error",
                "errorType": "unavailable",
                "error": "admin APIs disabled",
            }
    assert not (db.path / "snapshots").exists()
