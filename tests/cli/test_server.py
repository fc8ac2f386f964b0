"""``kubeprom run``'s parts in process: order, compaction on the clock, reload, failed start."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest

from kubeprom.cli.server import START_ORDER, Server, ServerSettings, in_start_order
from kubeprom.cli.settings import RemoteFlags
from kubeprom.clock import VirtualClock
from kubeprom.errors import ConfigError
from kubeprom.model import Labels
from kubeprom.tsdb import DB, Options

T0_MS = 1_800_000_000_000
HOUR_MS = 3_600_000
EMPTY = "global: {scrape_interval: 10s}\nscrape_configs: []\n"


def test_the_start_order_keeps_places_for_the_parts_to_come() -> None:
    assert START_ORDER == (
        "store",
        "compaction",
        "remote-write",
        "exporters",
        "notifier",
        "scrape",
        "rules",
        "hpa",
        "web",
    )


def _settings(tmp_path: Path, config: str | None, port: int = 0) -> ServerSettings:
    return ServerSettings(
        config_path=config,
        data=str(tmp_path / "data"),
        port=port,
        store=Options(retention_ms=None),
    )


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "kubeprom.yml"
    path.write_text(text)
    return str(path)


def test_the_default_config_runs_the_simulated_clusters_exporters(tmp_path: Path) -> None:
    server = Server(_settings(tmp_path, None), VirtualClock(T0_MS))
    assert server.lifecycle.names == [
        "store",
        "compaction",
        "remote-write",  # always there: a reload may add remote_write entries
        "exporters",
        "notifier",
        "scrape",
        "rules",
        "hpa",
        "web",
    ]
    serve_only = Server(_settings(tmp_path, _config(tmp_path, EMPTY)), VirtualClock(T0_MS))
    assert serve_only.lifecycle.names == [
        "store",
        "compaction",
        "remote-write",
        "notifier",
        "scrape",
        "rules",
        "hpa",
        "web",
    ]
    assert not (tmp_path / "data").exists()  # nothing opens before start


def test_agent_mode_has_no_rules_or_notifier(tmp_path: Path) -> None:
    settings = ServerSettings(
        config_path=_config(tmp_path, EMPTY),
        data=str(tmp_path / "data"),
        store=Options(retention_ms=None),
        remote=RemoteFlags(agent=True),
    )
    server = Server(settings, VirtualClock(T0_MS))
    assert server.lifecycle.names == ["store", "compaction", "remote-write", "scrape", "web"]


def test_a_part_out_of_its_place_is_refused(tmp_path: Path) -> None:
    server = Server(_settings(tmp_path, _config(tmp_path, EMPTY)), VirtualClock(T0_MS))
    with pytest.raises(ValueError, match=r"out of START_ORDER: \['web', 'store'\]"):
        in_start_order([server.web, None, server.store])


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Server, VirtualClock]]:
    clock = VirtualClock(T0_MS)
    server = Server(_settings(tmp_path, _config(tmp_path, EMPTY)), clock)
    await server.start()
    try:
        yield server, clock
    finally:
        await server.stop()


async def _get(server: Server, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.web.address + path, timeout=aiohttp.ClientTimeout(10)) as r,
    ):
        return await r.json()


async def test_compaction_runs_once_a_minute_of_clock_time(
    running: tuple[Server, VirtualClock], tmp_path: Path
) -> None:
    server, clock = running
    db = server.store.db
    app = db.appender()
    ref = app.ref(Labels.from_dict({"__name__": "x"}))
    for t_ms in (T0_MS - 3 * HOUR_MS, T0_MS):  # the head spans 1.5 block ranges: one is due
        app.append(t_ms, np.array([ref]), np.array([1.0]))
    app.commit()
    await clock.advance_ms(59_999)
    assert db.stats.compactions == 0
    await clock.advance_ms(1)
    await server.stop()  # waits for the compaction under way, then closes the store
    assert db.stats.compactions == 1
    assert server.lifecycle.running == []
    reopened = DB.open(tmp_path / "data", Options(retention_ms=None))
    try:
        assert len(reopened.blocks) == 1
    finally:
        reopened.close()


async def test_reload_reaches_scrape_and_web(
    running: tuple[Server, VirtualClock], tmp_path: Path
) -> None:
    server, clock = running
    assert server.scrape.service.active_targets() == []
    text = (
        "global: {scrape_interval: 10s}\n"
        "scrape_configs:\n"
        "  - {job_name: node, static_configs: [{targets: ['127.0.0.1:9']}]}\n"
    )
    _config(tmp_path, text)
    await clock.advance_ms(5_000)
    await server.reload()
    assert [t.job for t, _ in server.scrape.service.active_targets()] == ["node"]
    assert (await _get(server, "/api/v1/status/config"))["data"] == {"yaml": text}
    info = (await _get(server, "/api/v1/status/runtimeinfo"))["data"]
    assert (info["reloadConfigSuccess"], info["lastConfigTime"]) == (True, "2027-01-15T08:00:05Z")


async def test_a_bad_reload_keeps_the_running_configuration(
    running: tuple[Server, VirtualClock], tmp_path: Path
) -> None:
    server, _ = running
    _config(tmp_path, "global: {scrape_interval: 5x}\nscrape_configs: []\n")
    with pytest.raises(ConfigError, match="scrape_interval"):
        await server.reload()
    info = (await _get(server, "/api/v1/status/runtimeinfo"))["data"]
    assert (info["reloadConfigSuccess"], info["lastConfigTime"]) == (False, "2027-01-15T08:00:00Z")
    assert (await _get(server, "/api/v1/status/config"))["data"] == {"yaml": EMPTY}


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


async def test_a_web_that_cannot_listen_stops_the_parts_started_before_it(
    tmp_path: Path, taken_port: int
) -> None:
    server = Server(
        _settings(tmp_path, _config(tmp_path, EMPTY), port=taken_port), VirtualClock(T0_MS)
    )
    with pytest.raises(OSError, match="address already in use"):
        await server.start()
    assert server.lifecycle.running == []
    with pytest.raises(RuntimeError, match="not running"):
        server.scrape.service  # noqa: B018
    with pytest.raises(RuntimeError, match="not open"):
        server.store.db  # noqa: B018
    assert (tmp_path / "data" / "wal").is_dir()  # it was opened, and closed again
