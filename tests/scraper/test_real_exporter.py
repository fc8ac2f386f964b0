"""Scraping Debian's real prometheus-node-exporter over HTTP."""

from __future__ import annotations

from pathlib import Path

from kubeprom.model import Labels, Matcher, MatchType
from kubeprom.scraper.fetch import HTTPFetcher
from kubeprom.scraper.loop import ScrapeLoop, ScrapeOptions
from kubeprom.tsdb import DB, Options
from tests.support.procs import free_port, require_binary, running


async def test_scrape_real_node_exporter(tmp_path: Path) -> None:
    binary = require_binary("prometheus-node-exporter")
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    argv = [binary, f"--web.listen-address=127.0.0.1:{port}"]
    db = DB.open(tmp_path / "data", Options(retention_ms=None))
    fetch = HTTPFetcher()
    try:
        with running(argv, url, tmp_path / "node_exporter.log"):
            target = Labels({"job": "node", "instance": f"127.0.0.1:{port}"}.items())
            loop = ScrapeLoop(target, url, ScrapeOptions(timeout_ms=10_000), fetch, db.appender)
            await loop.scrape_once(1_700_000_000_000)
            await loop.scrape_once(1_700_000_015_000)
        assert (loop.health.health, loop.health.last_error) == ("up", "")
        q = db.querier()
        cpu = q.select(
            [
                Matcher(MatchType.EQUAL, "__name__", "node_cpu_seconds_total"),
                Matcher(MatchType.EQUAL, "mode", "idle"),
            ],
            0,
            2**62,
        )
        assert len(cpu) >= 1
        assert {s.labels.get("job") for s in cpu} == {"node"}
        assert all(s.t.tolist() == [1_700_000_000_000, 1_700_000_015_000] for s in cpu)
        up = q.select([Matcher(MatchType.EQUAL, "__name__", "up")], 0, 2**62)
        assert up.v.tolist() == [1.0, 1.0]
        assert q.metadata()["node_cpu_seconds_total"][0].type == "counter"
    finally:
        await fetch.close()
        db.close()
