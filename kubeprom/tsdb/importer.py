"""Bulk loading of historical samples straight into blocks (``kubeprom tsdb import``).

Like ``promtool tsdb create-blocks-from``, this bypasses the head and the WAL: samples are
bucketed by block range, sorted per series and written as blocks. The input needs no global
order; a series' samples only need to come in time order (they are sorted when they do not).
When the buffered samples exceed ``max_buffer_samples`` the fullest range is written early;
a range that receives more samples later gets a second, overlapping block, which queries merge.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kubeprom.model.csr import offsets_from_counts
from kubeprom.model.labels import Labels, validate_labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.tsdb.block import write_block
from kubeprom.tsdb.head import DEFAULT_BLOCK_RANGE_MS

DEFAULT_MAX_BUFFER_SAMPLES = 64_000_000  # ~1.3 GB of columns before a range is written early


class BulkImporter:
    """Collects columns of (series id, t, v) and writes them out as blocks."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        block_range_ms: int = DEFAULT_BLOCK_RANGE_MS,
        max_buffer_samples: int = DEFAULT_MAX_BUFFER_SAMPLES,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.block_range_ms = block_range_ms
        self.max_buffer_samples = max_buffer_samples
        self.labels: list[Labels] = []
        self._ids: dict[Labels, int] = {}
        self._windows: dict[int, list[tuple[I64Array, I64Array, F64Array]]] = {}
        self._buffered: dict[int, int] = {}
        self.samples_written = 0
        self.duplicates_dropped = 0
        self.blocks: list[Path] = []

    def series_id(self, labels: Labels) -> int:
        """Dense id of a series for :meth:`add`; validates new label sets."""
        sid = self._ids.get(labels)
        if sid is None:
            validate_labels(labels)
            sid = self._ids[labels] = len(self.labels)
            self.labels.append(labels)
        return sid

    def add(self, ids: I64Array, t: I64Array, v: F64Array) -> None:
        """Buffer samples; arrays are copied."""
        if not len(ids) == len(t) == len(v):
            raise ValueError(f"got {len(ids)} ids, {len(t)} timestamps and {len(v)} values")
        if len(ids) == 0:
            return
        r = self.block_range_ms
        w0, w1 = int(t.min()) // r, int(t.max()) // r
        if w0 == w1:
            self._buffer(w0, ids.copy(), t.copy(), v.copy())
        else:
            win = t // r
            for w in np.unique(win).tolist():
                m = win == w
                self._buffer(w, ids[m], t[m], v[m])
        if sum(self._buffered.values()) > self.max_buffer_samples:
            self._write_window(max(self._buffered, key=self._buffered.__getitem__))

    def _buffer(self, w: int, ids: I64Array, t: I64Array, v: F64Array) -> None:
        self._windows.setdefault(w, []).append((ids, t, v))
        self._buffered[w] = self._buffered.get(w, 0) + len(ids)

    @property
    def pending_ranges(self) -> int:
        """Block ranges buffered and not yet written."""
        return len(self._windows)

    def finish(self) -> list[Path]:
        """Write every buffered range; returns the block directories written."""
        for w in sorted(self._windows):
            self._write_window(w)
        return self.blocks

    def _write_window(self, w: int) -> None:
        cols = self._windows.pop(w)
        self._buffered.pop(w)
        ids = np.concatenate([c[0] for c in cols])
        t = np.concatenate([c[1] for c in cols])
        v = np.concatenate([c[2] for c in cols])
        del cols
        order = np.argsort(ids, kind="stable")
        ids, t, v = ids[order], t[order], v[order]
        same = ids[1:] == ids[:-1]
        if not np.all(t[1:][same] > t[:-1][same]):
            # Some series came out of time order, or repeat a timestamp: sort fully and keep
            # the last sample given for a timestamp.
            o = np.lexsort((np.arange(len(t)), t, ids))
            ids, t, v = ids[o], t[o], v[o]
            last = np.ones(len(t), dtype=bool)
            last[:-1] = (ids[1:] != ids[:-1]) | (t[1:] != t[:-1])
            self.duplicates_dropped += int(len(t) - last.sum())
            ids, t, v = ids[last], t[last], v[last]
        present, counts = np.unique(ids, return_counts=True)
        labels = [self.labels[i] for i in present.tolist()]
        r = self.block_range_ms
        path = write_block(
            self.data_dir,
            labels,
            t,
            v,
            offsets_from_counts(counts),
            min_time=w * r,
            max_time=(w + 1) * r,
        )
        self.blocks.append(path)
        self.samples_written += len(t)
