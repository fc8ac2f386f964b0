"""Subqueries ``expr[range:step]``: evaluate ``expr`` on a step-aligned inner grid covering
every outer window at once, then window the result like a range selector.

The grid's length is known before anything is allocated: one longer than the query's
``max_samples`` is refused at once (``count_over_time(vector(1)[100y:1ms])`` would need
3 * 10^12 steps). The inner result's points count against ``max_samples``, as
Prometheus counts a subquery's points. A long grid is evaluated in slices, each turned into
the points it holds before the next is evaluated, so temporaries stay small and the
deadline and the samples held are checked slice by slice. PromQL evaluates every step on
its own, so slicing changes no value; the inner series are ordered by labels either way.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from kubeprom.model.csr import offsets_from_counts, take_segments
from kubeprom.model.labels import EMPTY, Labels
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.eval.selectors import windows_over
from kubeprom.promql.steps import cleanup_labels, merge_same_labels
from kubeprom.promql.types import InstantSteps, RangeWindows, Scalar, Value
from kubeprom.tsdb.api import SeriesSet

# Grids up to this many steps are evaluated whole (the common case: [1h:1m] is 60 steps).
SLICE_STEPS = 1 << 14
# Longer grids are cut into slices of at most SLICE_STEPS steps and about this many values
# (series x steps) each.
SLICE_CELLS = 1 << 20


def inner_grid(first_after: int, last: int, step_ms: int) -> tuple[int, int]:
    """First time and number of the multiples of ``step_ms`` (absolute) in
    ``(first_after, last]``, without materialising them."""
    start = (first_after // step_ms) * step_ms
    if start <= first_after:
        start += step_ms
    if start > last:
        return start, 0
    return start, (last - start) // step_ms + 1


def evaluate(ev: Evaluator, e: ast.Subquery, ts: I64Array) -> RangeWindows:
    eff = ev.effective_times(ts, e.at, e.offset_ms)
    step = e.step_ms or ev.options.subquery_step_ms
    if len(eff) == 0:
        return windows_over(ev, SeriesSet.empty(), eff, e.range_ms)
    closed = int(ev.options.closed_windows)
    start, n = inner_grid(int(eff.min()) - e.range_ms - closed, int(eff.max()), step)
    if n == 0:
        return windows_over(ev, SeriesSet.empty(), eff, e.range_ms)
    ev.check_size(n)  # the grid itself: one timestamp per step
    if n <= SLICE_STEPS:
        grid = start + np.arange(n, dtype=np.int64) * step
        ss = _points(ev.eval(e.expr, grid), grid)
        ev.hold(ss.num_samples)
    else:
        ss = _sliced(ev, e.expr, start, n, step)
    return windows_over(ev, _by_labels(ss), eff, e.range_ms)


def _sliced(ev: Evaluator, expr: ast.Expr, start: int, n: int, step: int) -> SeriesSet:
    """The inner result over ``n`` steps from ``start``, evaluated a slice at a time."""
    return _concat(list(slices(ev, expr, start, n, step)))  # empties the list as it joins


def slices(
    ev: Evaluator, expr: ast.Expr, start: int, n: int, step: int, *, kept: bool = True
) -> Iterator[SeriesSet]:
    """The inner result over ``n`` steps from ``start``, a slice of steps at a time, each
    slice's points held against ``max_samples`` as it comes. A consumer that reduces them
    at once (``kept=False``) still counts them against the query's limit, so it refuses
    the same queries, but does not hold them against the server's budget."""
    done = 0
    width = SLICE_STEPS
    while done < n:
        count = min(width, n - done)
        grid = start + (done + np.arange(count, dtype=np.int64)) * step
        piece = _points(ev.eval(expr, grid), grid)
        if kept:
            ev.hold(piece.num_samples)
        else:
            ev.count(piece.num_samples)
        done += count
        # Size the next slice by the series this one had, so temporaries stay bounded.
        width = min(SLICE_STEPS, max(256, SLICE_CELLS // max(1, len(piece.labels))))
        yield piece


def _points(value: Value, grid: I64Array) -> SeriesSet:
    """The present points of an inner result as series (CSR), names dropped as flagged."""
    if isinstance(value, Scalar):
        value = InstantSteps(
            [EMPTY],
            value.values[None, :],
            np.ones((1, len(grid)), dtype=bool),
            np.zeros(1, dtype=bool),
        )
    if not isinstance(value, InstantSteps):
        raise TypeError("subquery of a non-vector expression")
    # Prometheus drops flagged names when it turns the inner result into series.
    if value.drop_name.any():
        value = merge_same_labels(cleanup_labels(value))
    rows, cols = np.nonzero(value.present)
    counts = np.bincount(rows, minlength=len(value.labels)).astype(np.int64)
    offsets = np.zeros(len(value.labels) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return SeriesSet(list(value.labels), grid[cols], value.values[rows, cols], offsets)


def _by_labels(ss: SeriesSet) -> SeriesSet:
    """The series sorted by labels: one order however the grid was sliced (Prometheus'
    order here is a Go map's, i.e. none)."""
    order = sorted(range(len(ss.labels)), key=ss.labels.__getitem__)
    if order == list(range(len(order))):
        return ss
    t, v, offsets = take_segments(ss.t, ss.v, ss.offsets, np.asarray(order, dtype=np.int64))
    return SeriesSet([ss.labels[i] for i in order], t, v, offsets)


def _concat(pieces: list[SeriesSet]) -> SeriesSet:
    """Series of consecutive time slices joined by labels (first-seen order); empties
    ``pieces``.

    Each slice's points are scattered straight to their place in the result and the slice
    is dropped at once, so the join holds about one copy of the points (16 bytes each), not
    the four or five a sort by series would (issue 11: a 43-million-point subquery peaked
    at 2.6 GiB that way).
    """
    ids: dict[Labels, int] = {}
    locals_: list[I64Array] = []
    for piece in pieces:
        locals_.append(
            np.array([ids.setdefault(lab, len(ids)) for lab in piece.labels], dtype=np.int64)
        )
    if not ids:
        pieces.clear()
        return SeriesSet.empty()
    counts = np.zeros(len(ids), dtype=np.int64)
    for piece, local in zip(pieces, locals_, strict=True):
        np.add.at(counts, local, np.diff(piece.offsets))
    offsets = offsets_from_counts(counts)
    total = int(offsets[-1])
    t = np.empty(total, dtype=np.int64)
    v = np.empty(total, dtype=np.float64)
    cursor = offsets[:-1].copy()  # next free place of each series
    pieces.reverse()  # consumed from the end: each piece is freed once it is placed
    for local in locals_:
        piece = pieces.pop()
        sizes = np.diff(piece.offsets)
        # Place of each point: its series' cursor plus its rank within its segment.
        dest = np.repeat(cursor[local] - piece.offsets[:-1], sizes) + np.arange(
            len(piece.t), dtype=np.int64
        )
        t[dest] = piece.t
        v[dest] = piece.v
        cursor[local] += sizes
        del piece, dest
    return SeriesSet(list(ids), t, v, offsets)
