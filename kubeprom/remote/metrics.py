"""``prometheus_remote_storage_*`` and ``prometheus_wal_watcher_*``: remote write's metrics.

Names, help texts and labels (``remote_name``, ``url``) are Prometheus'
(``storage/remote/queue_manager.go``), so its remote-write dashboards and alerts
(``PrometheusRemoteWriteBehind``, ``PrometheusRemoteStorageFailures``) work unchanged.
As in Prometheus, ``samples_total`` counts every attempt, retries included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from kubeprom.remote.watcher import WatcherStats

# Prometheus' DefBuckets plus 25, 60, 120, 300 (sent_batch_duration_seconds).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300)


@dataclass(slots=True)
class QueueStats:
    """Counters and gauges of one queue; written by the queue, read by the collector."""

    samples_total: int = 0
    samples_failed: int = 0
    samples_retried: int = 0
    samples_dropped: int = 0
    samples_pending: int = 0
    metadata_total: int = 0
    metadata_failed: int = 0
    metadata_retried: int = 0
    bytes_total: int = 0
    metadata_bytes_total: int = 0
    enqueue_retries: int = 0
    highest_sent_ms: int = 0
    shards: int = 0
    shards_desired: float = 0.0
    durations: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum_s: float = 0.0

    def observe_duration(self, seconds: float) -> None:
        i = next((k for k, b in enumerate(DURATION_BUCKETS) if seconds <= b), -1)
        self.durations[i] += 1
        self.duration_sum_s += seconds


class QueueView(Protocol):
    """What the collector reads of a running queue."""

    @property
    def remote_name(self) -> str: ...

    @property
    def url(self) -> str: ...

    @property
    def stats(self) -> QueueStats: ...

    @property
    def watcher_stats(self) -> WatcherStats: ...

    @property
    def limits(self) -> tuple[int, int, int, int]:
        """(min_shards, max_shards, capacity, max_samples_per_send)."""
        ...

    @property
    def current_segment(self) -> int: ...


class RemoteWriteCollector(Collector):
    """Reads every running queue's stats on each scrape; holds no state of its own.

    ``samples_in`` and ``highest_in_ms`` are the store's own counters: what was appended,
    which remote write then reads from the WAL.
    """

    def __init__(
        self,
        queues: Callable[[], Sequence[QueueView]],
        samples_in: Callable[[], int],
        highest_in_ms: Callable[[], int],
    ) -> None:
        self._queues = queues
        self._samples_in = samples_in
        self._highest_in_ms = highest_in_ms

    def collect(self) -> Iterator[Metric]:
        p = "prometheus_remote_storage_"
        labels = ["remote_name", "url"]
        yield CounterMetricFamily(
            p + "samples_in",
            "Samples in to remote storage, compare to samples out for queue managers.",
            self._samples_in(),
        )
        yield GaugeMetricFamily(
            p + "highest_timestamp_in_seconds",
            "Highest timestamp that has come into the remote storage via the Appender "
            "interface, in seconds since epoch.",
            max(self._highest_in_ms(), 0) / 1000,
        )
        counters = {
            "samples": ("Total number of samples sent to remote storage.", "samples_total"),
            "samples_failed": (
                "Total number of samples which failed on send to remote storage, "
                "non-recoverable errors.",
                "samples_failed",
            ),
            "samples_retried": (
                "Total number of samples which failed on send to remote storage but were "
                "retried because the send error was recoverable.",
                "samples_retried",
            ),
            "samples_dropped": (
                "Total number of samples which were dropped after being read from the WAL "
                "before being sent via remote write, either via relabelling or "
                "unintentionally because of an unknown reference ID.",
                "samples_dropped",
            ),
            "metadata": (
                "Total number of metadata entries sent to remote storage.",
                "metadata_total",
            ),
            "metadata_failed": (
                "Total number of metadata entries which failed on send to remote storage, "
                "non-recoverable errors.",
                "metadata_failed",
            ),
            "metadata_retried": (
                "Total number of metadata entries which failed on send to remote storage but "
                "were retried because the send error was recoverable.",
                "metadata_retried",
            ),
            "bytes": (
                "The total number of bytes of data (not metadata) sent by the queue after "
                "compression.",
                "bytes_total",
            ),
            "metadata_bytes": (
                "The total number of bytes of metadata sent by the queue after compression.",
                "metadata_bytes_total",
            ),
            "enqueue_retries": (
                "Total number of times enqueue has failed because a shards queue was full.",
                "enqueue_retries",
            ),
        }
        gauges = {
            "samples_pending": "The number of samples pending in the queues shards to be sent "
            "to the remote storage.",
            "queue_highest_sent_timestamp_seconds": "Timestamp from a WAL sample, the highest "
            "timestamp successfully sent by this queue, in seconds since epoch.",
            "shards": "The number of shards used for parallel sending to the remote storage.",
            "shards_desired": "The number of shards that the queues shard calculation wants to "
            "run based on the rate of samples in vs. samples out.",
            "shards_min": "The minimum number of shards that the queue is allowed to run.",
            "shards_max": "The maximum number of shards that the queue is allowed to run.",
            "shard_capacity": "The capacity of each shard of the queue used for parallel "
            "sending to the remote storage.",
            "max_samples_per_send": "The maximum number of samples to be sent, in a single "
            "request, to the remote storage.",
        }
        cfams = {k: CounterMetricFamily(p + k, h, labels=labels) for k, (h, _) in counters.items()}
        gfams = {k: GaugeMetricFamily(p + k, h, labels=labels) for k, h in gauges.items()}
        durations = HistogramMetricFamily(
            p + "sent_batch_duration_seconds",
            "Duration of send calls to the remote storage.",
            labels=labels,
        )
        records = CounterMetricFamily(
            "prometheus_wal_watcher_records_read",
            "Number of records read by the WAL watcher from the WAL.",
            labels=["consumer", "type"],
        )
        segment = GaugeMetricFamily(
            "prometheus_wal_watcher_current_segment",
            "Current segment the WAL watcher is reading records from.",
            labels=["consumer"],
        )
        for q in self._queues():
            s = q.stats
            lv = [q.remote_name, q.url]
            for key, (_, attr) in counters.items():
                cfams[key].add_metric(lv, getattr(s, attr))
            lo, hi, capacity, per_send = q.limits
            for key, value in (
                ("samples_pending", s.samples_pending),
                ("queue_highest_sent_timestamp_seconds", s.highest_sent_ms / 1000),
                ("shards", s.shards),
                ("shards_desired", s.shards_desired),
                ("shards_min", lo),
                ("shards_max", hi),
                ("shard_capacity", capacity),
                ("max_samples_per_send", per_send),
            ):
                gfams[key].add_metric(lv, value)
            cumulative, buckets = 0, []
            for bound, count in zip((*DURATION_BUCKETS, float("inf")), s.durations, strict=True):
                cumulative += count
                buckets.append((_bucket(bound), cumulative))
            durations.add_metric(lv, buckets, s.duration_sum_s)
            for kind, n in sorted(q.watcher_stats.records_read.items()):
                records.add_metric([q.remote_name, kind], n)
            segment.add_metric([q.remote_name], q.current_segment)
        yield from cfams.values()
        yield from gfams.values()
        yield durations
        yield records
        yield segment


def _bucket(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))
