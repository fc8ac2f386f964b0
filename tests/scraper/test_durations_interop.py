"""Durations as a real Prometheus (2.42, Debian) writes them in ``/api/v1/targets``.

``scrapeInterval`` / ``scrapeTimeout`` are the targets' ``__scrape_interval__`` /
``__scrape_timeout__`` labels, written with ``model.Duration.String``; kubeprom writes the
same labels and the same fields from the same configuration. In CI a missing binary fails.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from kubeprom.config.load import parse_main_config
from kubeprom.model.timeutil import format_duration_ms
from kubeprom.scraper.discovery import static_groups
from kubeprom.scraper.targets import build_targets
from tests.support.procs import running_prometheus

pytestmark = pytest.mark.slow

# (scrape_interval, scrape_timeout) as written in the configuration: non-canonical spellings,
# weeks and years that divide exactly and ones that do not.
JOBS = {
    "eight-days": ("8d", "10s"),
    "two-weeks": ("14d", "90s"),
    "ninety-days": ("90d", "1h30m"),
    "a-year": ("365d", "1d"),
    "a-year-and-a-day": ("366d", "7d"),
    "minutes": ("120s", "60000ms"),
    "odd": ("1w2d3h4m5s6ms", "1s500ms"),
}


def _config() -> str:
    jobs = "".join(
        f"  - job_name: {name}\n"
        f"    scrape_interval: {interval}\n"
        f"    scrape_timeout: {timeout}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:9']}}]\n"
        for name, (interval, timeout) in JOBS.items()
    )
    return f"scrape_configs:\n{jobs}"


def _active_targets(url: str, timeout_s: float = 30.0) -> dict[str, tuple[str, str, str]]:
    """Polls until discovery has placed every job's target (it runs after ``/-/ready``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with urllib.request.urlopen(f"{url}/api/v1/targets?state=active", timeout=10) as r:
            active = json.load(r)["data"]["activeTargets"]
        if len(active) == len(JOBS) or time.monotonic() > deadline:
            return {
                t["scrapePool"]: (t["scrapeInterval"], t["scrapeTimeout"], t["lastScrape"])
                for t in active
            }
        time.sleep(0.1)


def test_scrape_interval_and_timeout_match_prometheus(tmp_path: Path) -> None:
    with running_prometheus(tmp_path, _config()) as url:
        theirs = _active_targets(url)

    ours = {}
    for job in parse_main_config(_config(), "prometheus.yml").scrape_configs:
        (target,) = build_targets(job, static_groups(job.static_configs)).active
        labels = (
            target.all_labels.get("__scrape_interval__"),
            target.all_labels.get("__scrape_timeout__"),
        )
        # What kubeprom's /api/v1/targets writes from the parsed target.
        fields = (
            format_duration_ms(target.scrape_interval_ms),
            format_duration_ms(target.scrape_timeout_ms),
        )
        assert labels == fields
        ours[job.job_name] = (*fields, "0001-01-01T00:00:00Z")  # not scraped yet

    assert theirs == ours
    assert theirs["eight-days"][0] == "8d"  # not 1w1d
    assert theirs["two-weeks"][:2] == ("2w", "1m30s")
