"""Vectorised helpers for the CSR layout of ``SeriesSet`` (segment ``i`` =
``x[offsets[i]:offsets[i+1]]``), each a fixed number of numpy calls.

The engine keeps its own copies rather than importing the store's: ``promql`` sees only the
``tsdb.api`` seam.
"""

from __future__ import annotations

import numpy as np

from kubeprom.model.samples import I64Array


def offsets_from_counts(counts: I64Array) -> I64Array:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def gather_ranges(starts: I64Array, lengths: I64Array) -> I64Array:
    """Indices ``concat(range(s, s + n) for s, n in zip(starts, lengths))``."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    out_starts = np.cumsum(lengths) - lengths
    shift: I64Array = np.repeat(starts.astype(np.int64) - out_starts, lengths)
    return np.arange(total, dtype=np.int64) + shift


def segment_index(offsets: I64Array) -> I64Array:
    """For each element, the index of its segment."""
    counts = np.diff(offsets)
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)
