"""The embedded default rules over the default simulated cluster, in virtual time: the
recording rules record, and alerts fire within minutes."""

from __future__ import annotations

from pathlib import Path

from kubeprom.clock import VirtualClock
from kubeprom.config import load_main_config
from kubeprom.config.cluster_parse import load_cluster_config
from kubeprom.exporters import SimulatedCluster
from kubeprom.promql.api import LocalQueryAPI
from kubeprom.rules.group import GroupOptions
from kubeprom.rules.manager import RuleManager, settings_from
from kubeprom.rules.rule import RuleHealth
from kubeprom.scraper.service import ScrapeService
from kubeprom.sim.inprocess import InProcessFetch
from kubeprom.tsdb import DB, Options

START_S = 1_800_000_000.0


async def test_default_rules_record_and_alert_on_the_default_cluster(tmp_path: Path) -> None:
    config = load_main_config(None)
    spec = load_cluster_config(None)
    assert spec is not None
    clock = VirtualClock(round(START_S * 1000))
    fetch = InProcessFetch(SimulatedCluster(spec, start_s=START_S), clock)
    db = DB.open(tmp_path, Options(retention_ms=None))
    api = LocalQueryAPI(db.querier)
    scraping = ScrapeService(db.appender, clock, fetch, cluster=fetch.discover)
    scraping.apply(config)
    rules = RuleManager(GroupOptions(query=api, appender=db.appender, querier=db.querier), clock)
    await rules.update(
        settings_from(
            config.rule_files, evaluation_interval_ms=config.global_.evaluation_interval_ms
        )
    )
    scraping.start()
    firing_by_minute: dict[int, set[str]] = {}
    try:
        for minute in range(1, 31):
            await clock.set_ms(round((START_S + minute * 60) * 1000))
            res = api.instant('ALERTS{alertstate="firing"}', clock.now_ms())
            firing_by_minute[minute] = {lab.get("alertname") for lab in res.labels}
    finally:
        await scraping.stop()
        await rules.stop()
    assert [r.name for r in rules.rules() if r.health is not RuleHealth.OK] == []
    now = clock.now_ms()
    recorded = api.instant(
        "count by (__name__) ({__name__=~'node_namespace_pod_container:.*|namespace_.*'})", now
    )
    assert len(recorded) >= 6
    # Within five minutes the flash-sale checkout service is throttled; within half an hour
    # the leaking worker nears its memory limit and is OOM-killed.
    assert "KubeContainerCPUThrottled" in set().union(*(firing_by_minute[m] for m in range(1, 6)))
    assert {"KubeContainerMemoryNearLimit", "KubeContainerOOMKilled"} <= set().union(
        *firing_by_minute.values()
    )
    db.close()
