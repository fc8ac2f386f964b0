"""SIGKILL during ingest against a live ``kubeprom run`` (issue 11): nothing a query saw is
lost, however often the server is killed mid-scrape, and it restarts healthy each time.

A sample a query returned was committed (the store writes the WAL before the head shows a
sample), so it counts as acknowledged. Each round the server scrapes 200 counters every
200 ms, a query records every sample of them, the server is killed with SIGKILL straight
after, and the next round's first query must return all of them again.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.hostile.live import SELF_SCRAPE, Live, live_server, target_process, wait_until

pytestmark = pytest.mark.slow

CONFIG = (
    SELF_SCRAPE
    + """\
  - job_name: ingest
    metrics_path: /ingest
    scrape_interval: 200ms
    scrape_timeout: 200ms
    static_configs: [{targets: ["TARGETS"]}]
"""
)
ROUNDS = 3
SERIES = 200


def samples(live: Live) -> dict[str, set[tuple[float, str]]]:
    """Every stored sample of ``ingest_total``: {series: {(t, value)}}."""
    status, body = live.query("ingest_total[1d]")
    assert status == 200, body
    return {
        json.dumps(r["metric"], sort_keys=True): {(float(t), v) for t, v in r["values"]}
        for r in body["data"]["result"]
    }


def test_sigkill_during_ingest_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seen: dict[str, set[tuple[float, str]]] = {}
    with target_process(tmp_path, ["none"]) as targets:
        config = CONFIG.replace("TARGETS", targets)
        for _ in range(ROUNDS):
            with live_server(tmp_path, config, data=data) as live:
                now = samples(live)
                for series, points in seen.items():
                    assert now.get(series, set()) >= points, "acknowledged samples were lost"
                before = sum(map(len, now.values()))
                # Ten more scrapes of 200 series, then kill in the middle of the next ones.
                wait_until(
                    "ten new scrapes",
                    lambda live=live, before=before: (
                        sum(map(len, samples(live).values())) >= before + 10 * SERIES
                    ),
                )
                seen = samples(live)
                live.proc.send_signal(signal.SIGKILL)
                assert live.proc.wait(timeout=20) == -signal.SIGKILL
        with live_server(tmp_path, config, data=data) as live:
            now = samples(live)
            assert len(now) == SERIES
            for series, points in seen.items():
                assert now[series] >= points
            live.assert_healthy()
