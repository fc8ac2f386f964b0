"""Evaluating many range windows at once.

A :class:`~kubeprom.promql.types.RangeWindows` holds one window per (series, step). The
range functions flatten them to ``W = series * steps`` windows, each a run
``v[lo:lo + n]`` of one series' samples. Two access patterns cover every function:

* direct gathers (first, last, last two samples; prefix sums of per-sample flags), done
  over all windows in one go;
* a sequential pass, needed wherever upstream's result depends on the order of floating
  point operations (Kahan sums, running min/max, smoothing). The pass loops over the
  *offset* ``k`` inside the window; each iteration is one numpy operation over every window
  that still has a ``k``-th sample. Windows are sorted by length, longest first, so those
  windows are a prefix of the chunk and no masking is needed: the work is proportional to
  the number of samples visited, not to ``W * max_len``.

Chunks bound memory and keep the per-iteration arrays cache-sized.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql.checkpoint import EVERY, checkpoint
from kubeprom.promql.types import BoolArray, RangeWindows

# Windows per chunk in a sequential pass: big enough to amortise numpy's per-call overhead,
# small enough that the dozen temporaries of a Kahan step stay in the CPU cache.
SEQUENTIAL_CHUNK = 1 << 15
# Elements (windows x window length) per chunk when a function materialises whole windows
# (quantiles sort them): about 32 MiB per float64 temporary.
MATRIX_BUDGET = 1 << 22


@dataclass(frozen=True, slots=True)
class Flat:
    """All windows of a RangeWindows, flattened row-major (window ``i * steps + j``)."""

    t: I64Array
    v: F64Array
    lo: I64Array  # (W,) absolute index of the window's first sample
    n: I64Array  # (W,) samples in the window
    step: I64Array  # (W,) step index of the window
    end_ms: I64Array  # (W,) the window's right edge (inclusive), ms
    shape: tuple[int, int]
    range_ms: int

    @staticmethod
    def of(w: RangeWindows) -> Flat:
        series, steps = w.lo.shape
        lo = np.ascontiguousarray(w.lo, dtype=np.int64).reshape(-1)
        hi = np.ascontiguousarray(w.hi, dtype=np.int64).reshape(-1)
        step = np.tile(np.arange(steps, dtype=np.int64), series)
        return Flat(
            t=np.asarray(w.t, dtype=np.int64),
            v=np.asarray(w.v, dtype=np.float64),
            lo=lo,
            n=hi - lo,
            step=step,
            end_ms=np.asarray(w.step_times, dtype=np.int64)[step],
            shape=(series, steps),
            range_ms=int(w.range_ms),
        )

    def output(self) -> tuple[F64Array, BoolArray]:
        """Fresh flat (values, present) arrays for a result, all absent."""
        size = self.shape[0] * self.shape[1]
        return np.zeros(size, dtype=np.float64), np.zeros(size, dtype=bool)

    def shaped(self, values: F64Array, present: BoolArray) -> tuple[F64Array, BoolArray]:
        """Flat result arrays back in (series, steps) shape; absent values are set to 0."""
        values = np.where(present, values, 0.0)
        return values.reshape(self.shape), present.reshape(self.shape)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Windows sorted by length, longest first, for a sequential pass.

    ``active[k]`` windows (a prefix) have a ``k``-th sample; ``sample(k)`` gathers it.
    """

    ids: I64Array  # flat window ids
    lo: I64Array
    n: I64Array
    active: I64Array  # (max_len,)
    flat: Flat

    @property
    def max_len(self) -> int:
        return int(self.n[0]) if self.n.size else 0

    def sample_index(self, k: int) -> I64Array:
        if k % EVERY == 0:
            checkpoint()  # sequential passes loop over k: a long window is a long loop
        idx: I64Array = self.lo[: self.active[k]] + k
        return idx

    def values(self, k: int) -> F64Array:
        out: F64Array = self.flat.v[self.sample_index(k)]
        return out

    def times(self, k: int) -> I64Array:
        out: I64Array = self.flat.t[self.sample_index(k)]
        return out

    def column_index(self) -> I64Array:
        """Sample indices as a (max_len, windows) matrix, window ``w``'s ``k``-th sample at
        ``[k, w]``; past a window's end the indices run on into later samples (clipped to
        the last one), which column-wise prefix computations never read."""
        steps = np.arange(self.max_len, dtype=np.int64)[:, None]
        idx: I64Array = np.minimum(self.lo[None, :] + steps, max(self.flat.v.size - 1, 0))
        return idx

    def subset(self, keep: BoolArray) -> Chunk:
        """The windows where ``keep`` is True, still longest first."""
        n = self.n[keep]
        longest = int(n[0]) if n.size else 0
        active = np.searchsorted(-n, -np.arange(longest, dtype=np.int64), side="left")
        return Chunk(self.ids[keep], self.lo[keep], n, active.astype(np.int64), self.flat)

    def time_matrix(self) -> I64Array:
        """The chunk's sample times as a padded (windows, max_len) matrix (padding: 0)."""
        cols = np.arange(self.max_len, dtype=np.int64)
        valid = cols[None, :] < self.n[:, None]
        idx = np.where(valid, self.lo[:, None] + cols[None, :], 0)
        if not self.flat.t.size:
            return np.zeros(valid.shape, dtype=np.int64)
        out: I64Array = np.where(valid, self.flat.t[idx], 0)
        return out

    def window_matrix(self, fill: float) -> tuple[F64Array, BoolArray]:
        """The chunk's windows as a padded (windows, max_len) matrix and its validity mask."""
        cols = np.arange(self.max_len, dtype=np.int64)
        valid = cols[None, :] < self.n[:, None]
        idx = np.where(valid, self.lo[:, None] + cols[None, :], 0)
        matrix = (
            np.where(valid, self.flat.v[idx], fill)
            if self.flat.v.size
            else np.full(valid.shape, fill)
        )
        return matrix, valid


def by_length(flat: Flat, min_len: int) -> I64Array:
    """Ids of the windows with at least ``min_len`` samples, longest first."""
    ids = np.flatnonzero(flat.n >= max(min_len, 1))
    if ids.size == 0:
        return ids.astype(np.int64)
    lengths = flat.n[ids]
    longest = int(lengths.max())
    # A 16-bit key lets numpy's stable sort use radix sort: O(W), not O(W log W).
    key_dtype = np.uint16 if longest < (1 << 16) else np.int64
    order = np.argsort((longest - lengths).astype(key_dtype), kind="stable")
    sorted_ids: I64Array = ids[order]
    return sorted_ids


def chunks(flat: Flat, min_len: int, budget: int | None = None) -> Iterator[Chunk]:
    """Chunks of the windows with at least ``min_len`` samples, longest first.

    With ``budget``, a chunk holds at most about ``budget`` samples in total (for functions
    that materialise whole windows); otherwise :data:`SEQUENTIAL_CHUNK` windows.
    """
    ids = by_length(flat, min_len)
    start = 0
    while start < ids.size:
        longest = int(flat.n[ids[start]])
        size = SEQUENTIAL_CHUNK if budget is None else max(1, budget // max(longest, 1))
        part = ids[start : start + size]
        lengths = flat.n[part]
        # active[k] = how many windows are longer than k; lengths are descending.
        active = np.searchsorted(-lengths, -np.arange(longest, dtype=np.int64), side="left")
        yield Chunk(
            ids=part,
            lo=flat.lo[part],
            n=lengths,
            active=active.astype(np.int64),
            flat=flat,
        )
        start += size
