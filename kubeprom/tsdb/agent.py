"""Agent storage (``kubeprom run --agent``): the WAL and the series registry, no samples kept.

As Prometheus' agent (``tsdb/agent/db.go``): appends go to the write-ahead log only, for
remote write to read; memory holds each series' labels and its newest sample (to reject
out-of-order and duplicate samples, as the full store does), so memory per active series
is a fraction of the full store's. Nothing can be queried.

The WAL is truncated every ``truncate_interval_s`` (Prometheus' 2 h): a checkpoint records
every series and its newest sample, and the segments before it are deleted unless remote
write still needs them (:meth:`~kubeprom.tsdb.wal.WAL.keep_segments_from`). Restart replays
the checkpoint and the segments after it. Series are never garbage-collected.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from kubeprom.errors import StorageError
from kubeprom.model.labels import Labels, validate_labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MIN_TIME, AppendStats, MetricMetadata, MetricType, SeriesRef
from kubeprom.tsdb.head import sample_verdict
from kubeprom.tsdb.wal import (
    WAL,
    FsyncPolicy,
    MetadataRecord,
    MultiSamplesRecord,
    Record,
    SamplesRecord,
    SeriesRecord,
)

log = logging.getLogger(__name__)

DEFAULT_TRUNCATE_INTERVAL_S = 2 * 3600.0


@dataclass(slots=True)
class AgentStats:
    """Counters for ``prometheus_agent_*``."""

    appended: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    series_created: int = 0
    checkpoints: int = 0


class AgentDB:
    """The WAL-only store of a data directory. One writer process."""

    def __init__(self, path: Path, wal: WAL) -> None:
        self.path = path
        self.wal = wal
        self.stats = AgentStats()
        self.metadata: dict[str, MetricMetadata] = {}
        self.maxt = MIN_TIME
        self._refs: dict[Labels, int] = {}
        self._labels: list[Labels] = []
        self._last_t = np.full(1024, MIN_TIME, dtype=np.int64)
        self._last_v = np.zeros(1024, dtype=np.float64)
        self._pending_series: list[SeriesRecord] = []
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        wal_segment_bytes: int = 128 << 20,
        fsync_interval_s: float | None = None,
    ) -> AgentDB:
        """Open (creating) a data directory and replay its WAL."""
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        wal = WAL(p / "wal", segment_size=wal_segment_bytes, fsync=FsyncPolicy(fsync_interval_s))
        db = cls(p, wal)
        n = 0
        for rec in wal.replay():
            n += 1
            db._replay(rec)
        if n:
            log.info("replayed agent WAL records=%d series=%d", n, len(db._labels))
        return db

    @property
    def num_series(self) -> int:
        return len(self._labels)

    def _replay(self, rec: Record) -> None:
        if isinstance(rec, SeriesRecord):
            if rec.labels not in self._refs:
                if rec.ref != len(self._labels):
                    raise StorageError(
                        f"agent wal: series ref {rec.ref} out of order (next {len(self._labels)})"
                    )
                self._add(rec.labels)
        elif isinstance(rec, SamplesRecord):
            t = np.full(rec.refs.size, rec.t_ms, dtype=np.int64)
            self._apply(rec.refs, t, rec.values)
        elif isinstance(rec, MultiSamplesRecord):
            self._apply(rec.refs, rec.t, rec.values)
        elif isinstance(rec, MetadataRecord):
            for name, type_, help_, unit in rec.entries:
                self.metadata[name] = MetricMetadata(MetricType(type_), help_, unit)

    def _add(self, labels: Labels) -> int:
        ref = len(self._labels)
        if ref >= self._last_t.size:
            grown_t = np.full(2 * self._last_t.size, MIN_TIME, dtype=np.int64)
            grown_v = np.zeros(2 * self._last_t.size, dtype=np.float64)
            grown_t[:ref], grown_v[:ref] = self._last_t[:ref], self._last_v[:ref]
            self._last_t, self._last_v = grown_t, grown_v
        self._labels.append(labels)
        self._refs[labels] = ref
        return ref

    def _apply(self, refs: I64Array, t: I64Array, v: F64Array) -> None:
        """Keep the newest sample per ref (samples in WAL order)."""
        if refs.size == 0:
            return
        newer = t >= self._last_t[refs]
        # With repeated refs the last assignment wins, which is the newest in WAL order.
        self._last_t[refs[newer]] = t[newer]
        self._last_v[refs[newer]] = v[newer]
        self.maxt = max(self.maxt, int(t.max()))

    # ---- writing --------------------------------------------------------------------------
    def appender(self) -> AgentAppender:
        return AgentAppender(self)

    def get_or_create(self, labels: Labels) -> int:
        ref = self._refs.get(labels)
        if ref is not None:
            return ref
        validate_labels(labels)
        with self._lock:
            ref = self._refs.get(labels)
            if ref is None:
                ref = self._add(labels)
                self._pending_series.append(SeriesRecord(ref, labels))
                self.stats.series_created += 1
        return ref

    def check(self, t_ms: int, refs: I64Array, values: F64Array) -> tuple[I64Array, AppendStats]:
        """The full store's rules (out of order, duplicate, repeats in a batch), vectorised."""
        stats = AppendStats()
        n = refs.size
        if n == 0:
            return np.empty(0, dtype=np.int64), stats
        _, first_pos = np.unique(refs, return_index=True)
        first = np.zeros(n, dtype=bool)
        first[first_pos] = True
        repeats = n - first_pos.size
        last_t, last_v = self._last_t[refs], self._last_v[refs]
        return sample_verdict(t_ms, values, first, last_t, last_v, repeats, stats), stats

    def commit(
        self, batches: list[tuple[int, I64Array, F64Array]], metadata: dict[str, MetricMetadata]
    ) -> AppendStats:
        total = AppendStats()
        with self._lock:
            series, self._pending_series = self._pending_series, []
            if metadata:
                self.wal.log_metadata(
                    [(n, m.type.value, m.help, m.unit) for n, m in metadata.items()]
                )
                self.metadata.update(metadata)
            if series and not batches:
                self.wal.log_series(series)
            for i, (t_ms, refs, values) in enumerate(batches):
                ok, stats = self.check(t_ms, refs, values)
                refs, values = refs[ok], values[ok]
                self.wal.log_batch(series if i == 0 else (), t_ms, refs, values)
                self._apply(refs, np.full(refs.size, t_ms, dtype=np.int64), values)
                total.add(stats)
        self.stats.appended += total.appended
        return total

    # ---- truncation -----------------------------------------------------------------------
    def truncate(self) -> None:
        """Checkpoint the WAL: every series and its newest sample (see the module doc)."""
        with self._lock:
            n = len(self._labels)
            records: list[Record] = [SeriesRecord(i, self._labels[i]) for i in range(n)]
            if self.metadata:
                records.append(
                    MetadataRecord(
                        tuple((k, m.type.value, m.help, m.unit) for k, m in self.metadata.items())
                    )
                )
            live = np.flatnonzero(self._last_t[:n] != MIN_TIME)
            if live.size:
                records.append(
                    MultiSamplesRecord(live, self._last_t[live].copy(), self._last_v[live].copy())
                )
            self.wal.write_checkpoint(records)
        self.stats.checkpoints += 1

    def close(self) -> None:
        self.wal.close()


class AgentAppender:
    """The agent's Appender: stages batches, logs them to the WAL on commit."""

    def __init__(self, db: AgentDB) -> None:
        self._db = db
        self._batches: list[tuple[int, I64Array, F64Array]] = []
        self._metadata: dict[str, MetricMetadata] = {}

    def ref(self, labels: Labels) -> SeriesRef:
        return self._db.get_or_create(labels)

    def append(self, t_ms: int, refs: I64Array, values: F64Array) -> AppendStats:
        refs = np.asarray(refs, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if refs.shape != values.shape:
            raise ValueError(f"got {len(refs)} refs and {len(values)} values")
        ok, stats = self._db.check(int(t_ms), refs, values)
        self._batches.append((int(t_ms), refs[ok], values[ok]))
        s = self._db.stats
        s.out_of_order += stats.out_of_order
        s.duplicate += stats.duplicate
        return stats

    def append_metadata(self, metric: str, meta: MetricMetadata) -> None:
        if self._db.metadata.get(metric) != meta:
            self._metadata[metric] = meta

    def commit(self) -> AppendStats:
        batches, self._batches = self._batches, []
        meta, self._metadata = self._metadata, {}
        return self._db.commit(batches, meta)

    def rollback(self) -> None:
        self._batches = []
        self._metadata = {}

    def series_epoch(self) -> int:
        return 0  # the agent never garbage-collects series

    def live(self, refs: I64Array) -> NDArray[np.bool_]:
        refs = np.asarray(refs, dtype=np.int64)
        return (refs >= 0) & (refs < self._db.num_series)
