"""Vectorised helpers for the CSR sample layout every layer shares (``SeriesSet``, query
results): segment ``i`` = ``x[offsets[i]:offsets[i+1]]``.

Every function here runs in a fixed number of numpy calls, whatever the number of series or
samples: these are the building blocks that keep per-sample Python loops off the read path.
"""

from __future__ import annotations

import numpy as np

from kubeprom.model.samples import F64Array, I64Array


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
    # Each output index is its own position plus the shift of the range it falls in.
    shift: I64Array = np.repeat(starts.astype(np.int64) - out_starts, lengths)
    return np.arange(total, dtype=np.int64) + shift


def segment_index(offsets: I64Array) -> I64Array:
    """For each sample, the index of its segment."""
    counts = np.diff(offsets)
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def clip_time(
    t: I64Array, v: F64Array, offsets: I64Array, mint: int, maxt: int
) -> tuple[I64Array, F64Array, I64Array]:
    """Keep samples with ``mint <= t <= maxt``; segments may become empty (counts 0)."""
    if t.size == 0 or (int(t.min()) >= mint and int(t.max()) <= maxt):
        return t, v, offsets
    keep = (t >= mint) & (t <= maxt)
    kept_before = np.zeros(len(t) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return t[keep], v[keep], kept_before[offsets]


def take_segments(
    t: I64Array, v: F64Array, offsets: I64Array, which: I64Array
) -> tuple[I64Array, F64Array, I64Array]:
    """A new CSR holding the segments ``which`` (in that order)."""
    starts = offsets[which]
    lengths = offsets[which + 1] - starts
    idx = gather_ranges(starts, lengths)
    return t[idx], v[idx], offsets_from_counts(lengths)


def segment_bound(
    t: I64Array, starts: I64Array, ends: I64Array, value: int, *, right: bool = False
) -> I64Array:
    """Per segment ``[starts[i], ends[i])`` of the sorted ``t``: the first index whose time is
    ``>= value`` (``> value`` with ``right``), or ``ends[i]``.

    A bisection run on every segment at once: about log2(longest segment) numpy steps.
    """
    lo = starts.astype(np.int64, copy=True)
    hi = ends.astype(np.int64, copy=True)
    if t.size == 0:
        return lo
    last = t.size - 1
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        probe = t[np.minimum(mid, last)]
        go_right = (probe <= value) if right else (probe < value)
        lo = np.where(active & go_right, mid + 1, lo)
        hi = np.where(active & ~go_right, mid, hi)
