"""Commits waiting to be logged to the WAL as one record (``Options.wal_group_samples``:
virtual-time runs, see :mod:`kubeprom.tsdb.db`)."""

from __future__ import annotations

import numpy as np

from kubeprom.tsdb.appender import Batch
from kubeprom.tsdb.wal import WAL, SeriesRecord


class WALGroup:
    """The series and samples of commits applied to the head but not yet logged, in commit
    order; full once it holds ``limit`` samples."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._series: list[SeriesRecord] = []
        self._batches: list[Batch] = []
        self._samples = 0

    def add(self, series: list[SeriesRecord], batches: list[Batch]) -> bool:
        """Add a commit's new series and checked batches; returns whether the group is full."""
        self._series += series
        for batch in batches:
            if len(batch[1]):
                self._batches.append(batch)
                self._samples += len(batch[1])
        return self._samples >= self.limit

    def write_to(self, wal: WAL) -> None:
        """Log the group (series first, then one multi-sample record) and empty it."""
        if not (self._batches or self._series):
            return
        batches, self._batches = self._batches, []
        series, self._series = self._series, []
        self._samples = 0
        sizes = [len(refs) for _, refs, _ in batches]
        refs = (
            np.concatenate([refs for _, refs, _ in batches]) if batches else np.zeros(0, np.int64)
        )
        t = np.repeat(np.array([t_ms for t_ms, _, _ in batches], dtype=np.int64), sizes)
        values = np.concatenate([v for _, _, v in batches]) if batches else np.zeros(0)
        wal.log_group(series, refs, t, values)
