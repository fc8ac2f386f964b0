"""Scraping as configured: static and file discovery through to the store, in virtual time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kubeprom.clock import VirtualClock
from kubeprom.config.load import parse_main_config
from kubeprom.model import Matcher, MatchType
from kubeprom.scraper.fetch import FetchResult
from kubeprom.scraper.service import ScrapeService
from kubeprom.tsdb import DB, Options

START_S = 1_700_000_000.0


async def fetch(url: str, timeout_s: float, limit: int) -> FetchResult:
    host = url.split("/")[2]
    return FetchResult(
        f'# TYPE hits_total counter\nhits_total{{path="/"}} 1\nfrom{{u="{host}"}} 1\n'.encode(),
        "text/plain; version=0.0.4",
    )


def up_series(db: DB) -> dict[str, int]:
    ss = db.querier().select([Matcher(MatchType.EQUAL, "__name__", "up")], 0, 2**62)
    return {str(s.labels): int(np.count_nonzero(~np.isnan(s.v))) for s in ss}


async def test_static_and_file_targets_are_scraped_and_follow_file_changes(tmp_path: Path) -> None:
    sd = tmp_path / "targets.yml"
    sd.write_text("- targets: ['b:80']\n  labels: {team: x}\n")
    config = parse_main_config(
        f"""
global: {{scrape_interval: 15s}}
scrape_configs:
  - job_name: static
    static_configs: [{{targets: ['a:80']}}]
    metric_relabel_configs:
      - {{source_labels: [__name__], regex: from, action: drop}}
  - job_name: files
    file_sd_configs: [{{files: ['{sd}'], refresh_interval: 1m}}]
""",
        "test.yml",
    )
    db = DB.open(tmp_path / "data", Options(retention_ms=None))
    clock = VirtualClock(round(START_S * 1000))
    service = ScrapeService(db.appender, clock, fetch)
    service.apply(config)
    service.start()
    try:
        await clock.advance_ms(60_000)
        assert up_series(db) == {
            'up{instance="a:80", job="static"}': 4,
            'up{instance="b:80", job="files", team="x"}': 4,
        }
        q = db.querier()
        assert (
            q.select(
                [
                    Matcher(MatchType.EQUAL, "__name__", "from"),
                    Matcher(MatchType.EQUAL, "job", "static"),
                ],
                0,
                2**62,
            ).labels
            == []
        )
        sd.write_text("- targets: ['c:80']\n")
        await clock.advance_ms(60_000)
        targets = {t.url for t, _ in service.active_targets()}
        assert targets == {"http://a:80/metrics", "http://c:80/metrics"}
        b_up = q.select(
            [
                Matcher(MatchType.EQUAL, "instance", "b:80"),
                Matcher(MatchType.EQUAL, "__name__", "up"),
            ],
            0,
            2**62,
        )
        assert np.isnan(b_up.v[-1])  # removed target: stale marker
    finally:
        await service.stop()
        db.close()
