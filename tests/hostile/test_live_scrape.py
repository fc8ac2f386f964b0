"""Hostile targets against a live ``kubeprom run`` (issue 11, items 2, 4 and 7).

One server scrapes a healthy target beside a future-stamped one, a 10^6-series one under
``sample_limit: 1000``, a gzip bomb without ``body_size_limit`` and one repeating a series
100,000 times. Throughout, ``up`` answers within UP_LATENCY_S; at the end the server is
alive and its peak RSS under PEAK_RSS_BYTES (``tests/hostile/live.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kubeprom.model import Labels
from kubeprom.tsdb import BulkImporter
from tests.hostile.live import (
    SELF_SCRAPE,
    Live,
    live_server,
    target_process,
    wait_until,
    watching_up,
)

pytestmark = pytest.mark.slow

CONFIG = (
    SELF_SCRAPE
    + """\
  - job_name: normal
    metrics_path: /normal
    static_configs: [{targets: ["TARGETS"]}]
  - job_name: future
    metrics_path: /future
    static_configs: [{targets: ["TARGETS"]}]
  - job_name: huge
    metrics_path: /huge
    scrape_interval: 5s
    scrape_timeout: 4s
    sample_limit: 1000
    static_configs: [{targets: ["TARGETS"]}]
  - job_name: bomb
    metrics_path: /bomb
    scrape_interval: 5s
    scrape_timeout: 4s
    static_configs: [{targets: ["TARGETS"]}]
  - job_name: dups
    metrics_path: /dups
    scrape_interval: 5s
    scrape_timeout: 4s
    static_configs: [{targets: ["TARGETS"]}]
"""
)

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with target_process(tmp_path_factory.mktemp("targets")) as address:
        yield address


def up_of(live: Live) -> dict[str, float]:
    return {json.loads(k)["job"]: v for k, v in live.vector("up").items()}


def last_errors(live: Live) -> dict[str, str]:
    _, body = live.get("/api/v1/targets")
    return {t["labels"]["job"]: t["lastError"] for t in body["data"]["activeTargets"]}


def test_hostile_targets_fail_alone_and_nothing_stalls(tmp_path: Path, targets: str) -> None:
    with live_server(tmp_path, CONFIG.replace("TARGETS", targets)) as live:
        with watching_up(live) as watch:
            # Two scrapes of every hostile target, at least, and more than 10 s of the
            # healthy target's (the window its count is asserted over below: a fast start
            # can see the hostile rounds before the healthy target has 10 s of history).
            wait_until(
                "two rounds of hostile scrapes and 10 s of healthy ones",
                lambda: (
                    min(
                        live.vector('count_over_time(up{job=~"huge|bomb|dups"}[1m])').values(),
                        default=0,
                    )
                    >= 2
                    and min(
                        live.vector('count_over_time(up{job="normal"}[1m])').values(),
                        default=0,
                    )
                    >= 11
                ),
            )
            ups = up_of(live)
            errors = last_errors(live)
        assert ups == {"self": 1, "normal": 1, "future": 1, "huge": 0, "bomb": 0, "dups": 1}
        # Item 4: the sample limit stopped the parse and created no series.
        assert errors["huge"].startswith("sample limit exceeded: at least ")
        assert errors["huge"].endswith(" samples, limit 1000")
        assert live.metric("prometheus_tsdb_head_series") < 2_000
        assert live.metric("prometheus_target_scrapes_exceeded_sample_limit_total") >= 2
        # Item 4: the gzip bomb stopped at kubeprom's default bound, inside its timeout.
        assert errors["bomb"] == f"body size limit exceeded: more than {256 << 20} bytes"
        durations = live.vector('scrape_duration_seconds{job="bomb"}')
        assert max(durations.values()) < 4.0
        assert live.metric("prometheus_target_scrapes_exceeded_body_size_limit_total") >= 1
        # Item 7: duplicates counted, the scrape up, the first sample kept.
        assert errors["dups"] == ""
        assert live.vector("dup_metric") == {
            json.dumps(
                {"__name__": "dup_metric", "instance": targets, "job": "dups"}, sort_keys=True
            ): 0.0
        }
        assert live.metric("prometheus_target_scrapes_sample_duplicate_timestamp_total") >= (
            2 * 99_999
        )
        # Item 2: the future sample refused and counted, the rest of its scrape kept.
        assert live.vector("future_metric") == {}
        assert len(live.vector("present_metric")) == 1
        assert live.metric("prometheus_target_scrapes_sample_out_of_bounds_total") >= 2
        # The healthy target was scraped every second meanwhile.
        counts = live.vector('count_over_time(up{job="normal"}[10s])')
        assert min(counts.values()) >= 8
        assert len(watch.latencies) >= 10
        live.assert_healthy()


def import_history(data: Path, now_ms: int) -> int:
    """Three days of hourly samples of two series, ending a day ago; returns the count."""
    imp = BulkImporter(data, block_range_ms=2 * HOUR_MS)
    ids = np.array(
        [imp.series_id(Labels.from_dict({"__name__": "history", "i": str(i)})) for i in (0, 1)]
    )
    end = (now_ms - 24 * HOUR_MS) // HOUR_MS * HOUR_MS
    t = end - np.arange(72, dtype=np.int64)[::-1] * HOUR_MS
    imp.add(np.repeat(ids, len(t)), np.tile(t, 2), np.ones(2 * len(t)))
    assert len(imp.finish()) >= 36
    return 2 * len(t)


FUTURE_ONLY = (
    SELF_SCRAPE
    + """\
  - job_name: future
    metrics_path: /future
    static_configs: [{targets: ["TARGETS"]}]
"""
)


def test_a_future_stamped_target_deletes_no_block(tmp_path: Path, targets: str) -> None:
    """Item 2: history imported, a future-stamped target scraped, the server restarted (the
    store applies retention on open): every block and sample of the history is still
    there, and healthy samples keep arriving."""
    data = tmp_path / "data"
    n = import_history(data, int(time.time() * 1000))
    config = FUTURE_ONLY.replace("TARGETS", targets)
    count = "count_over_time(history[5d])"
    for _ in range(2):
        with live_server(tmp_path, config, ["--retention-time", "15d"], data=data) as live:
            assert sum(live.vector(count).values()) == n
            wait_until(
                "out-of-bounds samples counted",
                lambda live=live: (
                    live.metric("prometheus_target_scrapes_sample_out_of_bounds_total") >= 2
                ),
            )
            assert live.metric("prometheus_tsdb_blocks_loaded") >= 36
            assert sum(live.vector(count).values()) == n
            assert live.metric("prometheus_tsdb_out_of_bounds_samples_total") == 0
            live.assert_healthy()
