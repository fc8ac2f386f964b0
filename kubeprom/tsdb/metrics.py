"""Self-instrumentation of the store, under Prometheus' own metric names.

Using ``prometheus_tsdb_*`` names lets existing Prometheus dashboards and the benchmark
harness (which reads ``prometheus_tsdb_head_samples_appended_total``) work unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from kubeprom.tsdb.agent import AgentDB
    from kubeprom.tsdb.db import DB


class TSDBCollector(Collector):
    """Reads the store's counters on every scrape; holds no state of its own."""

    def __init__(self, db: DB) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        db = self._db
        s = db.stats
        head = db.head
        blocks = db.blocks_snapshot()
        yield GaugeMetricFamily(
            "prometheus_tsdb_head_series",
            "Total number of series in the head block.",
            head.num_series,
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_head_samples", "Samples currently held in the head.", head.num_samples
        )
        yield CounterMetricFamily(
            "prometheus_tsdb_head_samples_appended", "Total number of appended samples.", s.appended
        )
        yield CounterMetricFamily(
            "prometheus_tsdb_head_series_created",
            "Total number of series created in the head.",
            s.series_created,
        )
        yield CounterMetricFamily(
            "prometheus_tsdb_out_of_order_samples",
            "Total number of out of order samples ingestion failed attempts.",
            s.out_of_order,
        )
        yield CounterMetricFamily(
            "prometheus_tsdb_duplicate_samples",
            "Samples rejected for repeating a timestamp with another value.",
            s.duplicate,
        )
        yield CounterMetricFamily(
            "prometheus_tsdb_out_of_bounds_samples",
            "Samples rejected for being older than the head.",
            s.out_of_bounds,
        )
        yield CounterMetricFamily(
            "prometheus_tsdb_compactions",
            "Total number of head compactions into blocks.",
            s.compactions,
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks.", len(blocks)
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_storage_blocks_bytes",
            "The number of bytes used by loaded blocks.",
            sum(b.size_bytes for b in blocks),
        )
        yield GaugeMetricFamily(
            "prometheus_tsdb_wal_storage_size_bytes",
            "Size of the write-ahead log in bytes.",
            db.wal.size_bytes if db.wal else 0,
        )


class AgentCollector(Collector):
    """``prometheus_agent_*``: the agent store's counters (Prometheus' agent metric names)."""

    def __init__(self, db: AgentDB) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        db = self._db
        s = db.stats
        yield GaugeMetricFamily(
            "prometheus_agent_active_series",
            "Number of active series being tracked by the WAL storage",
            db.num_series,
        )
        yield CounterMetricFamily(
            "prometheus_agent_samples_appended",
            "Total number of samples appended to the storage",
            s.appended,
        )
        yield CounterMetricFamily(
            "prometheus_agent_out_of_order_samples",
            "Total number of out of order samples ingestion failed attempts.",
            s.out_of_order,
        )
        yield CounterMetricFamily(
            "prometheus_agent_checkpoint_creations",
            "Total number of checkpoint creations attempted.",
            s.checkpoints,
        )
        yield GaugeMetricFamily(
            "prometheus_agent_wal_size_bytes", "Bytes of the WAL on disk.", db.wal.size_bytes
        )
