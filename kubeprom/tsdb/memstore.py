"""An in-memory store: the DB's head without a WAL or blocks, for tests and simulations.

:class:`MemStore` is both sides of the storage seam: ``appender()`` gives an
:class:`~kubeprom.tsdb.api.Appender` and the store itself is a
:class:`~kubeprom.tsdb.api.Querier`. Samples live in the same numpy head as the DB's, so
appends are accepted or rejected by the same rules (out of order, duplicate) and ``select``
answers exactly as the DB's querier does, StaleNaN markers included. Nothing touches the
disk, and nothing is kept after the store is dropped.

The promqltest loader, rule unit tests and simulations use it; ``load`` takes whole series
with their own timestamps (a promqltest ``load`` block) in one call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import numpy as np

from kubeprom.model.csr import offsets_from_counts
from kubeprom.model.labels import Labels
from kubeprom.model.matchers import Matcher
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.api import MAX_TIME, MIN_TIME, AppendStats, MetricMetadata, SeriesSet
from kubeprom.tsdb.appender import Batch, DBStats, HeadAppender
from kubeprom.tsdb.frames import FrameCache
from kubeprom.tsdb.head import DEFAULT_BLOCK_RANGE_MS, DEFAULT_CHUNK_SAMPLES, Head
from kubeprom.tsdb.querier import StoreQuerier

FRAME_CACHE_BYTES = 8 << 20


class MemStore:
    """A head in memory; implements Querier and hands out Appenders. Thread-safe like the
    DB: appenders commit under a lock, queries read a consistent head."""

    def __init__(
        self,
        *,
        chunk_samples: int = DEFAULT_CHUNK_SAMPLES,
        block_range_ms: int = DEFAULT_BLOCK_RANGE_MS,
        frame_cache_bytes: int = FRAME_CACHE_BYTES,
    ) -> None:
        self._chunk_samples = chunk_samples
        self._block_range_ms = block_range_ms
        self._cache_bytes = frame_cache_bytes
        self._commit_lock = threading.Lock()
        # Decoded slabs are cached as in the DB: tests and rules query the same data often.
        self._cache = FrameCache(frame_cache_bytes)
        self.head = Head(
            chunk_samples=chunk_samples, block_range_ms=block_range_ms, cache=self._cache
        )
        self.stats = DBStats()
        self._querier = StoreQuerier(self.head)
        self._cleared_changes = 0  # changes() of the heads that clear() replaced

    # ---- writing (HeadWriter) ---------------------------------------------------------------
    def appender(self) -> HeadAppender:
        return HeadAppender(self)

    def register_series(self, ref: int, labels: Labels) -> None:
        self.stats.series_created += 1

    def commit_batches(
        self,
        batches: list[Batch],
        metadata: dict[str, MetricMetadata],
        checked_at: int | None = None,
    ) -> AppendStats:
        total = AppendStats()
        with self._commit_lock:
            for t_ms, refs, values in batches:
                # The appender's verdicts stand until a batch changes the head.
                if checked_at is not None and self.head.changes == checked_at:
                    self.head.apply(t_ms, refs, values)
                    total.add(AppendStats(appended=len(refs)))
                    continue
                ok, stats = self.head.check(t_ms, refs, values)
                self.head.apply(t_ms, refs[ok], values[ok])
                total.add(stats)
            self.head.metadata.update(metadata)
        self.stats.count(total, appended=True)
        return total

    def load(self, series: Mapping[Labels, tuple[I64Array, F64Array]]) -> AppendStats:
        """Append whole series, each with its own timestamps (any order), in one commit.

        The appending rules hold per series: a timestamp older than the series' newest is
        out of order, a repeated one with different value bits a duplicate (the first one
        given is kept); both are counted in the returned stats, not stored.
        """
        app = self.appender()
        ids = np.array([app.ref(lab) for lab in series], dtype=np.int64)
        arrays = [
            (np.asarray(t, dtype=np.int64), np.asarray(v, dtype=np.float64))
            for t, v in series.values()
        ]
        if any(t.shape != v.shape for t, v in arrays):
            raise ValueError("every series needs as many values as timestamps")
        keep = [i for i, (t, _) in enumerate(arrays) if t.size]
        if not keep:
            return AppendStats()
        order = sorted(keep, key=ids.__getitem__)
        ids = ids[order]
        counts = np.array([arrays[i][0].size for i in order], dtype=np.int64)
        t = np.concatenate([arrays[i][0] for i in order])
        v = np.concatenate([arrays[i][1] for i in order])
        with self._commit_lock:
            # One slab for the whole load when it only adds newer samples; else per time.
            stats = self.head.append_series(ids, t, v, offsets_from_counts(counts))
            if stats is None:
                stats = self.head.apply_many(np.repeat(ids, counts), t, v)
        self.stats.count(stats, appended=True)
        return stats

    def add(self, labels: Labels, t: I64Array, v: F64Array) -> AppendStats:
        """Append one series' samples; :meth:`load` of one series."""
        return self.load({labels: (t, v)})

    def clear(self) -> None:
        """Forget every series and sample (promqltest ``clear``)."""
        with self._commit_lock:
            self._cleared_changes += self.head.changes + 1
            self._cache = FrameCache(self._cache_bytes)
            self.head = Head(
                chunk_samples=self._chunk_samples,
                block_range_ms=self._block_range_ms,
                cache=self._cache,
            )
            self._querier = StoreQuerier(self.head)

    # ---- reading (Querier) ------------------------------------------------------------------
    def querier(self) -> MemStore:
        """The store itself (for code written against ``DB.querier``)."""
        return self

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> SeriesSet:
        return self._querier.select(matchers, mint, maxt)

    def changes(self) -> int:
        """As ``DB.changes``: grows whenever what a select could return changes."""
        return self._cleared_changes + self.head.changes

    def series(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Labels]:
        return self._querier.series(matchers, mint, maxt)

    def has_series(self, matchers: Sequence[Matcher]) -> bool:
        """Whether any series matches, from the label index alone (no samples are read; a
        series counts even if it has no samples)."""
        return bool(self.head.select_ids(matchers).size)

    def label_names(
        self, matchers: Sequence[Matcher] = (), mint: int = MIN_TIME, maxt: int = MAX_TIME
    ) -> list[str]:
        return self._querier.label_names(matchers, mint, maxt)

    def label_values(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        mint: int = MIN_TIME,
        maxt: int = MAX_TIME,
    ) -> list[str]:
        return self._querier.label_values(name, matchers, mint, maxt)

    def metadata(self) -> dict[str, list[MetricMetadata]]:
        return self._querier.metadata()
