"""Range functions folded over a long subquery slice by slice (issue 11).

``sum_over_time(rate(x[1m])[1h:1ms])`` has 3.6 million inner steps. Evaluated whole, the
inner result's points are joined into one series set, searched and gathered into window
matrices: about 64 bytes a step at the peak (+232 MiB for that query, +1.3 GiB for
``count_over_time(vector(1)[12h:1ms])``). The functions here need only each window's
aggregate, and every window is a run of consecutive inner steps, so each slice of the inner
grid is reduced into per-(series, outer step) state before the next is evaluated: memory is
one slice plus the output, whatever the grid's length. A window spanning several slices
carries its state over (a Kahan sum and compensation, a count, the extreme kept so far);
the state continues exactly where it stopped, so answers are bit-identical to the whole
evaluation. (Time is not saved where upstream's loop is sequential: ``max_over_time`` still
visits every sample in order, a slice at a time.)

Limits are accounted as for the whole evaluation: every slice's points are counted against
``max_samples`` as they come, and the windows' samples (the largest step's) at the end, so a
query is refused exactly when it was before. They are counted, not held: the server-wide
budget (``--query.max-samples-total``) sees only what the fold keeps, one slice of at most
``subquery.SLICE_CELLS`` values and the state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubeprom.model.labels import Labels
from kubeprom.model.samples import F64Array, I64Array, stale_mask
from kubeprom.promql import ast
from kubeprom.promql.eval import subquery
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.eval.selectors import search
from kubeprom.promql.functions.kahan import kahan_continue_columns, kahan_result
from kubeprom.promql.functions.range_funcs import RANGE_FUNCTIONS
from kubeprom.promql.functions.range_stats import COLUMN_BUDGET, Compare
from kubeprom.promql.functions.windows import Flat, chunks
from kubeprom.promql.types import Annotations, BoolArray, InstantSteps, RangeWindows
from kubeprom.tsdb.api import SeriesSet

# Functions whose value over a window is a fold that continues across slices.
# compareOverTime's functions: a window's value is its first sample replaced, in order,
# by every later one that is better (or follows a NaN).
_EXTREMES: dict[str, Compare] = {"max_over_time": np.greater, "min_over_time": np.less}
FOLDED = frozenset({"sum_over_time", "count_over_time", "present_over_time", *_EXTREMES})


@dataclass(slots=True)
class _State:
    """Per (series, outer step): samples counted, Kahan sum and compensation; per series:
    non-stale points seen anywhere (a series with none is dropped, as ``windows_over``
    drops it)."""

    count: I64Array
    total: F64Array
    comp: F64Array
    points: I64Array

    @staticmethod
    def new(steps: int) -> _State:
        return _State(
            np.zeros((0, steps), dtype=np.int64),
            np.zeros((0, steps)),
            np.zeros((0, steps)),
            np.zeros(0, dtype=np.int64),
        )

    def grow(self, rows: int) -> None:
        extra = rows - len(self.points)
        if extra <= 0:
            return
        steps = self.count.shape[1]
        self.count = np.vstack([self.count, np.zeros((extra, steps), dtype=np.int64)])
        self.total = np.vstack([self.total, np.zeros((extra, steps))])
        self.comp = np.vstack([self.comp, np.zeros((extra, steps))])
        self.points = np.concatenate([self.points, np.zeros(extra, dtype=np.int64)])


def evaluate(ev: Evaluator, func: str, sq: ast.Subquery, ts: I64Array) -> InstantSteps | None:
    """``func(sq)`` at ``ts``, folded slice by slice; ``None`` when the inner grid is short
    enough to evaluate whole (the caller then does, as for any range function)."""
    eff = ev.effective_times(ts, sq.at, sq.offset_ms)
    step = sq.step_ms or ev.options.subquery_step_ms
    if len(eff) == 0:
        return None
    closed = int(ev.options.closed_windows)
    start, n = subquery.inner_grid(int(eff.min()) - sq.range_ms - closed, int(eff.max()), step)
    if n <= subquery.SLICE_STEPS:
        return None
    ev.check_size(n)  # the grid itself, as the whole evaluation checks it
    ids: dict[Labels, int] = {}
    state = _State.new(len(eff))
    side = "left" if ev.options.closed_windows else "right"
    for piece in subquery.slices(ev, sq.expr, start, n, step, kept=False):
        rows = np.array([ids.setdefault(lab, len(ids)) for lab in piece.labels], dtype=np.int64)
        state.grow(len(ids))
        _fold(func, _without_stale(piece), rows, eff, sq.range_ms, side, state)
    # The whole evaluation's checks on its windows, in its order.
    kept = state.points > 0
    ev.check_size(int(kept.sum()) * len(eff))
    held = int(state.count.sum(axis=0).max(initial=0))
    ev.count(held)
    ev.count(-held)
    labels = list(ids)
    order = sorted(range(len(labels)), key=labels.__getitem__)
    order = [i for i in order if kept[i]]
    idx = np.asarray(order, dtype=np.int64)
    count = state.count[idx]
    present: BoolArray = count >= 1
    if func == "count_over_time":
        values: F64Array = count.astype(np.float64)
    elif func == "present_over_time":
        values = np.ones(count.shape)
    elif func in _EXTREMES:
        values = state.total[idx]
    else:
        values = kahan_result(state.total[idx], state.comp[idx])
    values = np.where(present, values, np.nan)
    return InstantSteps([labels[i] for i in order], values, present, np.ones(len(order), bool))


def _without_stale(ss: SeriesSet) -> SeriesSet:
    stale = stale_mask(ss.v)
    if not stale.any():
        return ss
    keep = ~stale
    kept_before = np.zeros(len(ss.t) + 1, dtype=np.int64)
    np.cumsum(keep, out=kept_before[1:])
    return SeriesSet(ss.labels, ss.t[keep], ss.v[keep], kept_before[ss.offsets])


def _fold(
    func: str,
    ss: SeriesSet,
    rows: I64Array,
    eff: I64Array,
    range_ms: int,
    side: str,
    state: _State,
) -> None:
    """Add one slice's points to the state of every window they fall in."""
    state.points[rows] += np.diff(ss.offsets)
    if ss.num_samples == 0:
        return
    hi = search(ss, eff, side="right")
    lo = search(ss, eff - np.int64(range_ms), side=side)
    had = state.count[rows] > 0
    state.count[rows] += hi - lo
    w = RangeWindows(ss.labels, ss.t, ss.v, ss.offsets, lo, hi, eff, range_ms)
    better = _EXTREMES.get(func)
    if better is not None:
        _fold_extreme(func, better, w, rows, had, state)
        return
    if func != "sum_over_time":
        return
    flat = Flat.of(w)
    steps = len(eff)
    total = state.total.reshape(-1)  # views: (series, steps) row-major, as Flat's ids
    comp = state.comp.reshape(-1)
    with np.errstate(all="ignore"):
        for ch in chunks(flat, 1, COLUMN_BUDGET):
            lanes = rows[ch.ids // steps] * steps + ch.ids % steps
            total[lanes], comp[lanes] = kahan_continue_columns(
                flat.v[ch.column_index()], ch.n, total[lanes], comp[lanes]
            )


def _fold_extreme(
    func: str, better: Compare, w: RangeWindows, rows: I64Array, had: BoolArray, state: _State
) -> None:
    """compareOverTime continued: the slice's own extreme of each window replaces the
    carried one on upstream's condition (``better(new, kept) || IsNaN(kept)``), which is
    what its loop does sample by sample, since a kept NaN is replaced by the next sample
    and a kept number only by a better one."""
    with np.errstate(all="ignore"):
        extreme, present = RANGE_FUNCTIONS[func](w, [], Annotations.new())
    kept = state.total[rows]
    take = present & (~had | better(extreme, kept) | np.isnan(kept))
    state.total[rows] = np.where(take, extreme, kept)
