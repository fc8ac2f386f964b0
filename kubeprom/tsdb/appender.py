"""The Appender over a head, shared by the DB (which logs commits to its WAL) and the
in-memory store (which does not).

:class:`HeadAppender` stages batches and checks them against the head as they arrive
(rejections are counted at once, as Prometheus' ``Append`` does); ``commit`` hands the staged
batches to a :class:`HeadWriter`, which checks them again under its commit lock (another
appender may have committed newer samples meanwhile), applies them and makes them durable.
When the head has not changed since the batches were checked (``Head.changes``: what one
appender stages between two commits of others, e.g. every scrape in virtual time), the
writer may take the first checks' verdicts instead of checking again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import AppendStats, MetricMetadata, SeriesRef
from kubeprom.tsdb.head import Head

Batch = tuple[int, I64Array, F64Array]
"""One staged append: (t_ms, refs, values), the refs unique and checked."""


@dataclass(slots=True)
class DBStats:
    """Counters of what appends did, kept for self-instrumentation."""

    appended: int = 0
    out_of_order: int = 0
    duplicate: int = 0
    out_of_bounds: int = 0
    series_created: int = 0
    compactions: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def count(self, stats: AppendStats, *, appended: bool) -> None:
        """Add rejections (and, with ``appended``, stored samples) to the counters."""
        if appended:
            self.appended += stats.appended
        self.out_of_order += stats.out_of_order
        self.duplicate += stats.duplicate
        self.out_of_bounds += stats.out_of_bounds


class HeadWriter(Protocol):
    """What a HeadAppender writes through: a head, its counters and its commit."""

    head: Head
    stats: DBStats

    def register_series(self, ref: int, labels: Labels) -> None:
        """A series was created in the head (log it before its first samples)."""
        ...

    def commit_batches(
        self,
        batches: list[Batch],
        metadata: dict[str, MetricMetadata],
        checked_at: int | None = None,
    ) -> AppendStats:
        """Check, apply and persist staged batches; returns what was stored. ``checked_at``:
        the head's ``changes`` when every batch was checked (None: not known)."""
        ...


class HeadAppender:
    """Implements :class:`kubeprom.tsdb.api.Appender` over a :class:`HeadWriter`."""

    def __init__(self, writer: HeadWriter) -> None:
        self._writer = writer
        self._batches: list[Batch] = []
        self._metadata: dict[str, MetricMetadata] = {}
        self._checked_at: int | None = None  # head.changes when the staged batches were checked

    def ref(self, labels: Labels) -> SeriesRef:
        ref, created = self._writer.head.get_or_create(labels)
        if created:
            self._writer.register_series(ref, labels)
        return ref

    def append(self, t_ms: int, refs: I64Array, values: F64Array) -> AppendStats:
        refs = np.asarray(refs, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if refs.shape != values.shape:
            raise ValueError(f"got {len(refs)} refs and {len(values)} values")
        head = self._writer.head
        before = head.changes
        ok, stats = head.check(int(t_ms), refs, values)
        same = head.changes == before and (not self._batches or self._checked_at == before)
        self._checked_at = before if same else None
        self._batches.append((int(t_ms), refs[ok], values[ok]))
        # Rejected samples never reach commit, so count them now (as Prometheus' Append does).
        self._writer.stats.count(stats, appended=False)
        return stats

    def append_metadata(self, metric: str, meta: MetricMetadata) -> None:
        if self._writer.head.metadata.get(metric) != meta:
            self._metadata[metric] = meta

    def commit(self) -> AppendStats:
        batches, self._batches = self._batches, []
        meta, self._metadata = self._metadata, {}
        checked_at, self._checked_at = self._checked_at, None
        return self._writer.commit_batches(batches, meta, checked_at)

    def rollback(self) -> None:
        self._batches = []
        self._metadata = {}
        self._checked_at = None

    def series_epoch(self) -> int:
        return self._writer.head.removed_series

    def live(self, refs: I64Array) -> NDArray[np.bool_]:
        return self._writer.head.live(np.asarray(refs, dtype=np.int64))
