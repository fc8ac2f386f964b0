"""Instant and range vector selectors: one ``Querier.select`` per selector, then
``searchsorted`` over all series and all steps at once.

All series of a selection are searched together through composite keys: sample ``k`` of
series ``i`` gets the key ``i * span + (t_k - t_min + 1)``, which is strictly increasing over
the whole CSR array, so one ``np.searchsorted`` answers "last sample at or before time T" for
every (series, step) pair.
"""

from __future__ import annotations

import numpy as np

from kubeprom.model.csr import gather_ranges, offsets_from_counts, segment_index
from kubeprom.model.samples import I64Array, stale_mask
from kubeprom.promql import ast
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.types import BoolArray, InstantSteps, RangeWindows
from kubeprom.tsdb.api import SeriesSet

# Composite keys must stay inside int64; beyond this, search series by series.
_KEY_LIMIT = 2**62


def search(ss: SeriesSet, q: I64Array, *, side: str) -> I64Array:
    """For every series ``i`` and query time ``q[j]``: the CSR index one past the last
    sample with ``t <= q[j]`` (``side='right'``) or ``t < q[j]`` (``side='left'``), as
    absolute indices into ``ss.t``; shape (series, len(q))."""
    n = len(ss.labels)
    offsets = ss.offsets
    if n == 0:
        return np.empty((0, len(q)), dtype=np.int64)
    t = ss.t
    t_min, t_max = int(t.min()), int(t.max())
    if len(q) == 1:
        # One query time (an instant query, a rule) past or before every sample answers
        # with the segments' ends or starts; a select clipped to the window always does.
        at = int(q[0])
        if t_max < at or (side == "right" and t_max == at):
            return offsets[1:, None].astype(np.int64, copy=True)
        if t_min > at or (side == "left" and t_min == at):
            return offsets[:-1, None].astype(np.int64, copy=True)
    # Query times are clipped into [t_min - 1, t_max + 1], outside every sample on both
    # sides, so ``side='left'`` stays exact for a time past the last sample.
    span = t_max - t_min + 3
    if n * span >= _KEY_LIMIT:
        out = np.empty((n, len(q)), dtype=np.int64)
        for i in range(n):
            a, b = int(offsets[i]), int(offsets[i + 1])
            out[i] = a + np.searchsorted(t[a:b], q, side=side)  # type: ignore[call-overload]
        return out
    keys = segment_index(offsets) * span + (t - t_min + 1)
    rel = np.clip(q.astype(np.int64) - t_min + 1, 0, span - 1)
    qkeys = (np.arange(n, dtype=np.int64) * span)[:, None] + rel[None, :]
    found = np.searchsorted(keys, qkeys.ravel(), side=side)  # type: ignore[call-overload]
    return np.asarray(found, dtype=np.int64).reshape(n, len(q))


def select(ev: Evaluator, sel: ast.VectorSel, mint: int, maxt: int) -> SeriesSet:
    ev.check_timeout()
    ss = ev.querier.select(list(sel.matchers), mint, maxt)
    for text in ss.warnings:  # storage warnings (e.g. a quarantined chunk) travel as they are
        ev.annotations.warn(text)
    return ss


def latest(ev: Evaluator, ss: SeriesSet, eff: I64Array) -> tuple[I64Array, BoolArray]:
    """Index of the sample an instant selector returns at each (series, step), and whether
    there is one: the newest sample in ``(eff - lookback, eff]`` that is not a stale marker."""
    n = len(ss.labels)
    if n == 0:
        return np.empty((0, len(eff)), dtype=np.int64), np.empty((0, len(eff)), dtype=bool)
    idx = search(ss, eff, side="right") - 1
    starts = ss.offsets[:-1, None]
    valid = idx >= starts
    safe = np.where(valid, idx, 0)
    t = ss.t[safe]
    floor = (eff - ev.options.lookback_ms)[None, :]
    valid &= (t >= floor) if ev.options.closed_windows else (t > floor)
    valid &= ~stale_mask(ss.v[safe])
    return safe, valid


def vector(ev: Evaluator, sel: ast.VectorSel, ts: I64Array) -> InstantSteps:
    m, _ = vector_with_times(ev, sel, ts)
    return m


def vector_with_times(
    ev: Evaluator, sel: ast.VectorSel, ts: I64Array
) -> tuple[InstantSteps, I64Array]:
    """The selector's instant vector at each step, plus each point's sample timestamp."""
    eff = ev.effective_times(ts, sel.at, sel.offset_ms)
    if len(eff) == 0:
        return InstantSteps.empty(0), np.empty((0, 0), dtype=np.int64)
    closed = int(ev.options.closed_windows)
    ss = select(ev, sel, int(eff.min()) - ev.options.lookback_ms + 1 - closed, int(eff.max()))
    ev.check_size(len(ss.labels) * len(eff))
    if not ss.labels:
        return InstantSteps.empty(len(eff)), np.empty((0, len(eff)), dtype=np.int64)
    idx, valid = latest(ev, ss, eff)
    if not valid.all():
        rows = np.flatnonzero(valid.any(axis=1))
        idx, valid = idx[rows], valid[rows]
        labels = [ss.labels[i] for i in rows.tolist()]
    else:
        labels = list(ss.labels)
    values = np.where(valid, ss.v[idx], np.nan)
    times = ss.t[idx]
    ev.hold(int(valid.sum()))
    return InstantSteps(labels, values, valid, np.zeros(len(labels), dtype=bool)), times


def matrix(ev: Evaluator, sel: ast.MatrixSel, ts: I64Array) -> RangeWindows:
    """The range selector's windows ``(eff - range, eff]`` at each step, stale markers
    removed."""
    vs = sel.selector
    eff = ev.effective_times(ts, vs.at, vs.offset_ms)
    if len(eff) == 0:
        ss = SeriesSet.empty()
    else:
        closed = int(ev.options.closed_windows)
        ss = select(ev, vs, int(eff.min()) - sel.range_ms + 1 - closed, int(eff.max()))
    return windows_over(ev, ss, eff, sel.range_ms)


def windows_over(ev: Evaluator, ss: SeriesSet, eff: I64Array, range_ms: int) -> RangeWindows:
    """Windows over a series set, dropping stale markers and series left without samples."""
    stale = stale_mask(ss.v)
    if stale.any():
        keep = ~stale
        kept_before = np.zeros(len(ss.t) + 1, dtype=np.int64)
        np.cumsum(keep, out=kept_before[1:])
        ss = SeriesSet(ss.labels, ss.t[keep], ss.v[keep], kept_before[ss.offsets])
    counts = np.diff(ss.offsets)
    if (counts == 0).any():
        rows = np.nonzero(counts > 0)[0]
        starts = ss.offsets[rows]
        lengths = counts[rows]
        idx = gather_ranges(starts, lengths)
        ss = SeriesSet(
            [ss.labels[i] for i in rows], ss.t[idx], ss.v[idx], offsets_from_counts(lengths)
        )
    ev.check_size(len(ss.labels) * len(eff))
    hi = search(ss, eff, side="right")
    side = "left" if ev.options.closed_windows else "right"
    lo = search(ss, eff - np.int64(range_ms), side=side)
    # Samples held at once: the largest step's windows (Prometheus frees them per step).
    if len(eff):
        held = int((hi - lo).sum(axis=0).max(initial=0))
        ev.hold(held)
        ev.hold(-held)
    return RangeWindows(ss.labels, ss.t, ss.v, ss.offsets, lo, hi, eff, range_ms)
