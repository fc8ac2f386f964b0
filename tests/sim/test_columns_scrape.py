"""The samples an in-process scrape takes from the exporters' columns (``parsed_columns``)
are the samples parsing their OpenMetrics text gives: every target of a cluster whose pods
come, restart and go, and a collector that only has ``collect()``."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics import exposition as openmetrics

from kubeprom.exporters import ClusterExporters, SimulatedCluster
from kubeprom.exporters.columns import BlockBuilder, Columns, FamilySpec, columns_of, concat
from kubeprom.scraper.exposition import parse_text
from kubeprom.scraper.exposition.parser import ParsedBody
from kubeprom.sim.inprocess import parsed_columns
from tests.exporters.helpers import cluster, deployment

START_S = 1_700_000_000.0
Row = tuple[str, int, int]  # labels, value bits, timestamp (ms or MISSING)


def rows(parsed: ParsedBody) -> list[Row]:
    bits = parsed.values.view(np.uint64).tolist()
    stamps = parsed.timestamps_ms.tolist()
    out = [(str(parsed.labels[key]), bits[i], stamps[i]) for i, key in enumerate(parsed.series)]
    return sorted(out)


def text_of(registry: CollectorRegistry) -> ParsedBody:
    body: bytes = openmetrics.generate_latest(registry)
    return parse_text(body, openmetrics=True)


def test_every_target_as_text_while_pods_come_restart_and_go() -> None:
    spec = cluster(
        deployment("web", replicas=3, readiness=20),
        deployment(
            "leaky",
            replicas=1,
            resources="{requests: {cpu: 50m, memory: 32Mi}, limits: {memory: 40Mi}}",
            load="{type: constant, rps: 1, baseline_memory: 30Mi, memory_leak_per_hour: 600Mi}",
        ),
        nodes='{count: 2, capacity: {cpu: "4", memory: 16Gi, pods: 110}}',
    )
    sim = SimulatedCluster(spec, start_s=START_S)
    exporters = ClusterExporters(sim)
    seen: set[str] = set()
    for step, replicas in enumerate((3, 6, 6, 2, 0, 4)):
        sim.advance_to(START_S + 40.0 * step)
        sim.scale("default", "web", replicas)
        sim.advance_to(START_S + 40.0 * step + 15)
        for target in exporters.targets():
            columns = exporters.columns(target.target_id)
            direct = parsed_columns(columns, frozenset())
            text = text_of(exporters.registry(target.target_id))
            assert rows(direct) == rows(text), (step, target.target_id)
            assert direct.metadata == text.metadata
            seen.update(str(labels) for labels in direct.labels.values())
    restarts = [s for s in seen if s.startswith("kube_pod_container_status_last_terminated")]
    assert restarts, "the leaky pod was OOM-killed at least once"
    assert sum("kube_pod_created{" in s for s in seen) >= 9  # pods came and went


class CollectOnly:
    """A collector without columns: a counter, a stamped gauge, an empty family."""

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("queue_requests", "Requests.", labels=["queue", "code"])
        requests.add_metric(["a", "200"], 3.0)
        requests.add_metric(["b", "500"], 0.1)
        depth = GaugeMetricFamily("queue_depth", "Messages waiting.", labels=["queue"])
        depth.add_metric(["a"], 12.0, timestamp=START_S + 0.25)
        depth.add_metric(["b"], -0.0, timestamp=START_S + 0.25)
        yield from (requests, depth, GaugeMetricFamily("queue_idle", "Nothing yet."))


def test_a_collector_with_only_collect_joins_the_direct_path() -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CollectOnly())
    direct = parsed_columns(columns_of(CollectOnly()), frozenset())
    text = text_of(registry)
    assert rows(direct) == rows(text)
    assert direct.metadata == text.metadata
    assert set(direct.metadata) == {"queue_requests", "queue_depth", "queue_idle"}
    assert direct.timestamps_ms.tolist().count(int(START_S * 1000) + 250) == 2


def test_known_series_are_not_labelled_again() -> None:
    columns = columns_of(CollectOnly())
    first = parsed_columns(columns, frozenset())
    again = parsed_columns(columns, frozenset(first.series[:3]))
    assert len(first.labels) == 4
    assert sorted(again.labels) == sorted(first.series[3:])
    assert again.series == first.series


def test_concat_keeps_families_rows_and_time() -> None:
    families = [FamilySpec("a", "gauge", "A.", ("x",)), FamilySpec("b", "gauge", "B.", ("y",))]
    b = BlockBuilder(families)
    b.add(0, 1, ["1"])
    b.add(1, 0, ["2"])
    part = Columns(families, [b.build()], np.array([[5.0, 6.0]]))
    one = BlockBuilder(families[:1])
    one.add(0, 0, ["3"])
    stamped = Columns(
        [FamilySpec("c", "gauge", "C.", ("x",), stamped=True)],
        [one.build()],
        np.array([[7.0]]),
        t_s=START_S,
    )
    both = concat([part, stamped])
    assert [f.name for f in both.families] == ["a", "b", "c"]
    assert both.values().tolist() == [6.0, 5.0, 7.0]
    assert both.family().tolist() == [0, 1, 2]
    assert both.stamped().tolist() == [False, False, True]
    assert both.t_s == START_S
    with pytest.raises(ValueError, match=r"parts stamped at different times"):
        concat([stamped, Columns(stamped.families, stamped.blocks, stamped.matrix, t_s=1.0)])
