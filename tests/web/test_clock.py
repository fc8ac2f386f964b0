"""The app's clock is every handler's "now": a VirtualClock pins it for the whole API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from kubeprom.clock import VirtualClock
from kubeprom.model import Labels
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.tsdb import DB, Options
from kubeprom.web import FederateHandler, QueryHandlers, build_app

T0 = 1_700_000_000_000  # samples every 15 s from here; "up" goes 0, 1, 2, 3, 4


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], VirtualClock]]:
    db = DB.open(tmp_path, Options(retention_ms=None))
    app = db.appender()
    refs = np.array([app.ref(Labels({"__name__": "up", "job": "a"}.items()))])
    for k in range(5):
        app.append(T0 + k * 15_000, refs, np.array([float(k)]))
    app.commit()
    clock = VirtualClock(T0 + 20_000)
    web_app = build_app(
        CollectorRegistry(),
        clock=clock,
        query=QueryHandlers(LocalQueryAPI(db.querier, clock=clock)),
        federate=FederateHandler(db.querier),
    )
    async with TestClient(TestServer(web_app)) as c:
        yield c, clock
    db.close()


async def test_an_instant_query_without_time_is_evaluated_at_the_clocks_now(
    served: tuple[TestClient[Any, Any], VirtualClock],
) -> None:
    client, clock = served
    r = await client.get("/api/v1/query", params={"query": "up"})
    assert (await r.json())["data"]["result"] == [
        {"metric": {"__name__": "up", "job": "a"}, "value": [1700000020, "1"]}
    ]
    await clock.advance_ms(31_500)  # to T0 + 51.5 s: the sample at T0 + 45 s is the newest
    r = await client.get("/api/v1/query", params={"query": "up"})
    assert (await r.json())["data"]["result"] == [
        {"metric": {"__name__": "up", "job": "a"}, "value": [1700000051.5, "3"]}
    ]


async def test_federation_reads_the_newest_sample_before_the_clocks_now(
    served: tuple[TestClient[Any, Any], VirtualClock],
) -> None:
    client, clock = served
    r = await client.get("/federate", params={"match[]": "up"})
    assert await r.text() == (f'# TYPE up untyped\nup{{job="a",instance=""}} 1 {T0 + 15_000}\n')
    # Past the 5m lookback after the last sample, federation has nothing to say.
    await clock.set_ms(T0 + 60_000 + 5 * 60_000 + 1)
    r = await client.get("/federate", params={"match[]": "up"})
    assert await r.text() == ""
