"""Hostile queries (issue 11 item 1): deep or long queries get 400 with a position, never a
crash, a RecursionError or a non-JSON 500, and the server answers ``up`` afterwards."""

from __future__ import annotations

import io
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.model import Labels
from kubeprom.promql import limits
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import DB, Options
from kubeprom.web import build_app
from kubeprom.web.params import parse_time
from kubeprom.web.query import QueryHandlers
from tests.support.procs import free_port, running

T_S = 1_700_000_060
DEEP = "expression nested too deeply: more than 128 levels of brackets and operators"

HOSTILE = {
    "sum-5000": ("+".join(["1"] * 5000), f"1:258: parse error: {DEEP}"),
    "sum-3000": ("+".join(["1"] * 3000), f"1:258: parse error: {DEEP}"),
    "parens-5000": ("(" * 5000 + "1" + ")" * 5000, f"1:129: parse error: {DEEP}"),
    "abs-3000": ("abs(" * 3000 + "up" + ")" * 3000, f"1:516: parse error: {DEEP}"),
    "unary-5000": ("-" * 5000 + "1", f"1:129: parse error: {DEEP}"),
    "and-chain": (" and ".join(["up"] * 400), f"1:900: parse error: {DEEP}"),
    "subqueries": (
        "max_over_time(" * 100 + "up" + "[1m:])" * 100,
        f"1:1569: parse error: {DEEP}",
    ),
    "multiline": ("up +\n" * 200 + "up", f"129:4: parse error: {DEEP}"),
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    db = DB.open(tmp_path, Options(retention_ms=None))
    app = db.appender()
    ref = np.array([app.ref(Labels({"__name__": "up", "job": "a"}.items()))])
    app.append(T_S * 1000, ref, np.array([1.0]))
    app.commit()
    web_app = build_app(CollectorRegistry(), query=QueryHandlers(LocalQueryAPI(db.querier)))
    async with TestClient(TestServer(web_app)) as c:
        yield c
    db.close()


async def _up_answers(client: TestClient) -> None:  # type: ignore[type-arg]
    r = await client.get("/api/v1/query", params={"query": "up", "time": str(T_S)})
    assert r.status == 200
    body = await r.json()
    assert body["data"]["result"] == [
        {"metric": {"__name__": "up", "job": "a"}, "value": [T_S, "1"]}
    ]


@pytest.mark.parametrize("endpoint", ["query", "query_range", "format_query"])
@pytest.mark.parametrize(("query", "error"), HOSTILE.values(), ids=HOSTILE.keys())
async def test_deep_queries_get_400_with_a_position(
    client: TestClient,  # type: ignore[type-arg]
    endpoint: str,
    query: str,
    error: str,
) -> None:
    data = {"query": query, "time": str(T_S), "start": str(T_S), "end": str(T_S), "step": "15"}
    r = await client.post(f"/api/v1/{endpoint}", data=data)
    assert r.status == 400
    assert await r.json() == {
        "status": "error",
        "errorType": "bad_data",
        "error": f'invalid parameter "query": {error}',
    }
    await _up_answers(client)


async def test_queries_at_the_bound_are_answered(client: TestClient) -> None:  # type: ignore[type-arg]
    # 128 levels is accepted and evaluates without RecursionError, whatever the shape.
    for query, want in [
        ("+".join(["1"] * 129), "129"),
        ("(" * 128 + "1" + ")" * 128, "1"),
        ("abs(" * 127 + "vector(1)" + ")" * 127, None),
        ("-" * 128 + "1", "1"),
        (" + ".join(["up"] * 129), None),
        ("max_over_time(" * 60 + "vector(1)" + "[1m:])" * 60, "1"),
    ]:
        r = await client.post("/api/v1/query", data={"query": query, "time": str(T_S)})
        body = await r.json()
        assert (r.status, body["status"]) == (200, "success"), body
        result = body["data"]["result"]
        value = result[1] if body["data"]["resultType"] == "scalar" else result[0]["value"][1]
        assert want is None or value == want
    await _up_answers(client)


async def test_too_long_query(client: TestClient) -> None:  # type: ignore[type-arg]
    query = 'up{job="' + "a" * limits.MAX_QUERY_BYTES + '"}'
    form = urllib.parse.urlencode({"query": query, "time": str(T_S)})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    r = await client.post("/api/v1/query", data=io.BytesIO(form.encode()), headers=headers)
    assert r.status == 400
    body = await r.json()
    assert body["error"] == (
        'invalid parameter "query": 1:1: parse error: query too long: '
        f"{limits.MAX_QUERY_BYTES + 10} bytes, at most {limits.MAX_QUERY_BYTES} are accepted"
    )
    await _up_answers(client)


def _post(url: str, query: str) -> tuple[int, dict[str, object]]:
    body = urllib.parse.urlencode({"query": query}).encode()
    try:
        with urllib.request.urlopen(url, data=body, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


@pytest.mark.timeout(120)
def test_kubeprom_run_survives_the_5000_term_sum(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "kubeprom.yml"
    config.write_text("global: {}\nscrape_configs: []\n")
    argv = [sys.executable, "-m", "kubeprom.cli.main", "run", "--config", str(config)]
    argv += ["--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / "data")]
    base = f"http://127.0.0.1:{port}"
    with running(argv, f"{base}/-/ready", tmp_path / "server.log") as proc:
        for endpoint in ("query", "query_range?start=0&end=60&step=15", "format_query"):
            status, body = _post(f"{base}/api/v1/{endpoint}", "+".join(["1"] * 5000))
            assert (status, body["errorType"]) == (400, "bad_data"), body
            assert proc.poll() is None
        status, body = _post(f"{base}/api/v1/query", "vector(1)")
        assert status == 200
        assert body["data"] == {"resultType": "vector", "result": [{"metric": {}, "value": body[
            "data"]["result"][0]["value"]}]}  # fmt: skip
        assert body["data"]["result"][0]["value"][1] == "1"  # type: ignore[index]


BAD_PARAMS = {
    "time-1e400": (
        "query",
        {"time": "1e400"},
        "invalid parameter \"time\": invalid time value for 'time': "
        'cannot parse "1e400" to a valid timestamp',
    ),
    "time-1e20": (
        "query",
        {"time": "99999999999999999999"},
        "invalid parameter \"time\": invalid time value for 'time': "
        'cannot parse "99999999999999999999" to a valid timestamp',
    ),
    "time-inf": (
        "query",
        {"time": "Inf"},
        "invalid parameter \"time\": invalid time value for 'time': "
        'cannot parse "Inf" to a valid timestamp',
    ),
    "time-nan": (
        "query",
        {"time": "NaN"},
        "invalid parameter \"time\": invalid time value for 'time': "
        'cannot parse "NaN" to a valid timestamp',
    ),
    "step-inf": (
        "query_range",
        {"step": "Inf"},
        'invalid parameter "step": cannot parse "Inf" to a valid duration. It overflows int64',
    ),
    "step-minus-inf": (
        "query_range",
        {"step": "-Inf"},
        'invalid parameter "step": cannot parse "-Inf" to a valid duration. It overflows int64',
    ),
    "step-1e400": (
        "query_range",
        {"step": "1e400"},
        'invalid parameter "step": cannot parse "1e400" to a valid duration',
    ),
    "step-1e10": (
        "query_range",
        {"step": "1e10"},
        'invalid parameter "step": cannot parse "1e10" to a valid duration. It overflows int64',
    ),
    "step-nan": (
        "query_range",
        {"step": "NaN"},
        'invalid parameter "step": zero or negative query resolution step widths are not '
        "accepted. Try a positive integer",
    ),
    "start-1e400": (
        "query_range",
        {"start": "1e400"},
        'invalid parameter "start": cannot parse "1e400" to a valid timestamp',
    ),
    "end-1e20": (
        "query_range",
        {"end": "99999999999999999999"},
        'invalid parameter "end": cannot parse "99999999999999999999" to a valid timestamp',
    ),
}


@pytest.mark.parametrize(
    ("endpoint", "params", "error"), BAD_PARAMS.values(), ids=BAD_PARAMS.keys()
)
async def test_bad_times_and_steps_get_prometheus_400(
    client: TestClient,  # type: ignore[type-arg]
    endpoint: str,
    params: dict[str, str],
    error: str,
) -> None:
    # The wording is Prometheus 3's (2.42 capitalises "Invalid time value"); 2.42 answers the
    # out-of-int64 times 1e20, Inf and NaN for a nonsense time instead of refusing them.
    data = {"query": "up", "start": str(T_S), "end": str(T_S + 60), "step": "15", **params}
    r = await client.get(f"/api/v1/{endpoint}", params=data)
    assert r.status == 400
    assert await r.json() == {"status": "error", "errorType": "bad_data", "error": error}
    await _up_answers(client)


@pytest.mark.parametrize(
    ("time", "t_ms"),
    [("1700000060.1234", 1_700_000_060_123), ("-1.5", -1500), ("0x1p4", 16_000), ("1e3", 10**6)],
)
def test_numeric_times_round_like_prometheus(time: str, t_ms: int) -> None:
    assert parse_time(time, "time") == t_ms
