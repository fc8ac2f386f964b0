"""``histogram_quantile`` and ``histogram_fraction`` over classic (``le``) buckets.

Upstream computes one classic histogram at a time (``BucketQuantile``/``BucketFraction``
in ``promql/quantile.go``): sort the buckets by upper bound, require a ``+Inf`` bucket,
merge buckets with equal bounds, and (quantile only) make the counts monotonic, silently
where a difference is within ``smallDeltaTolerance`` and with an info annotation where a
bucket really is lower than its predecessor. Here every (group, step) pair is one such
histogram and the algorithm runs for all of them at once: bucket rows are sorted once, the
buckets present at each step are compacted into a (groups, slots, steps) block, and the
sequential parts (monotonicity, fraction) loop over the slot index, one numpy operation
over all pairs per slot; the quantile's bucket search is upstream's binary search
(``sort.Search``), run in lock step.

Inputs, shared by both functions (rows = bucket series; the evaluator groups the bucket
series of one histogram by their labels without ``le``, parses ``le`` and drops rows
whose ``le`` does not parse, warning about them itself)::

    upper_bounds  (rows,)         parsed ``le``
    group         (rows,) int     which output series the row belongs to, 0..n_groups-1
    counts        (rows, steps)   bucket values
    present       (rows, steps)   whether the row has a sample at the step

Output: ``(values, present)`` of shape (n_groups, steps); a group is present at a step when
at least one of its buckets is (its value may be NaN, as upstream).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql.functions.notes import (
    ForcedMonotonicity,
    forced_monotonicity,
    invalid_quantile,
)
from kubeprom.promql.types import Annotations, BoolArray

# quantile.go smallDeltaTolerance: relative differences between neighbouring cumulative
# counts below this are floating point noise (e.g. from sharded sums), fixed silently.
SMALL_DELTA_TOLERANCE = 1e-12
_MIN_NORMAL = float(np.finfo(np.float64).tiny)
_MAX_FLOAT = float(np.finfo(np.float64).max)
# Elements per (groups x slots x steps) block: bounds memory for long range queries.
_BLOCK_BUDGET = 1 << 22


def almost_equal(a: F64Array, b: F64Array, epsilon: float) -> BoolArray:
    """``util/almost.Equal`` elementwise (StaleNaN cannot occur in bucket counts)."""
    abs_sum = np.abs(a) + np.abs(b)
    diff = np.abs(a - b)
    tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
    close = np.where(
        tiny, diff < epsilon * _MIN_NORMAL, diff / np.minimum(abs_sum, _MAX_FLOAT) < epsilon
    )
    out: BoolArray = (np.isnan(a) & np.isnan(b)) | (a == b) | close
    return out


@dataclass(frozen=True, slots=True)
class _Block:
    """The merged buckets present at each step of a block of steps, per group.

    ``ub[g, k, s]``/``cnt[g, k, s]`` is group g's k-th smallest present bucket at step s
    (``k < n[g, s]``); slots beyond ``n`` are padding.
    """

    steps: slice
    ub: F64Array  # (groups, slots, steps)
    cnt: F64Array
    n: I64Array  # (groups, steps)

    def at(self, arr: F64Array, k: I64Array) -> F64Array:
        """``arr[g, k[g, s], s]`` (``k`` clipped into range; callers mask the lanes)."""
        kk = np.clip(k, 0, arr.shape[1] - 1)
        out: F64Array = np.take_along_axis(arr, kk[:, None, :], axis=1)[:, 0, :]
        return out


def _blocks(
    upper_bounds: F64Array, group: I64Array, counts: F64Array, present: BoolArray, n_groups: int
) -> Iterator[_Block]:
    """Sort, coalesce and compact the bucket rows, one block of steps at a time."""
    steps = counts.shape[1]
    order = np.lexsort((upper_bounds, group))  # by group, then bound; NaN bounds last
    g, ub = group[order], upper_bounds[order]
    c, p = counts[order], present[order]
    rows = g.size
    # Equal bounds of one group share a slot (coalesceBuckets). NaN != NaN: never merged.
    new_slot = np.ones(rows, dtype=bool)
    new_slot[1:] = (g[1:] != g[:-1]) | (ub[1:] != ub[:-1])
    slot_of_row = np.cumsum(new_slot) - 1
    slot_start = np.flatnonzero(new_slot)
    slots = slot_start.size
    slot_group = g[slot_start]
    depth = np.arange(rows) - slot_start[slot_of_row]
    # Per-slot sums over the rows present at each step, in row order, as upstream adds.
    # The merged bucket keeps the bound of its first present row (-0.0 and 0.0 merge).
    total = np.zeros((slots, steps))
    bound = np.zeros((slots, steps))
    started = np.zeros((slots, steps), dtype=bool)
    for d in range(int(depth.max(initial=-1)) + 1):
        r = np.flatnonzero(depth == d)
        s = slot_of_row[r]
        opens = p[r] & ~started[s]
        total[s] = np.where(opens, c[r], np.where(p[r], total[s] + c[r], total[s]))
        bound[s] = np.where(opens, ub[r][:, None], bound[s])
        started[s] |= p[r]
    # Each present slot's rank among its group's present slots, per step.
    group_first_slot = np.searchsorted(slot_group, np.arange(n_groups), side="left")
    running = np.cumsum(started, axis=0, dtype=np.int64)
    before = np.zeros((n_groups, steps), dtype=np.int64)
    has_prior = group_first_slot > 0
    before[has_prior] = running[group_first_slot[has_prior] - 1]
    rank = running - before[slot_group] - 1
    per_group = np.bincount(slot_group, minlength=n_groups)
    width = max(int(per_group.max(initial=0)), 1)
    block = max(1, _BLOCK_BUDGET // max(n_groups * width, 1))
    for start in range(0, steps, block):
        sl = slice(start, min(start + block, steps))
        on = started[:, sl]
        n = np.zeros((n_groups, on.shape[1]), dtype=np.int64)
        np.add.at(n, slot_group, on.astype(np.int64))
        ub_out = np.zeros((n_groups, width, on.shape[1]))
        cnt_out = np.zeros((n_groups, width, on.shape[1]))
        si, ti = np.nonzero(on)
        ub_out[slot_group[si], rank[si, ti + start], ti] = bound[si, ti + start]
        cnt_out[slot_group[si], rank[si, ti + start], ti] = total[si, ti + start]
        yield _Block(steps=sl, ub=ub_out, cnt=cnt_out, n=n)


@dataclass(frozen=True, slots=True)
class _Forced:
    """Per (group, step): was monotonicity forced, and over which bounds by how much."""

    forced: BoolArray
    min_bucket: F64Array
    max_bucket: F64Array
    max_diff: F64Array


def _ensure_monotonic(b: _Block) -> _Forced:
    """ensureMonotonicAndIgnoreSmallDeltas, in place on ``b.cnt``."""
    shape = b.n.shape
    prev = b.cnt[:, 0, :].copy()
    forced = np.zeros(shape, dtype=bool)
    min_bucket, max_bucket = np.full(shape, np.inf), np.full(shape, -np.inf)
    max_diff = np.zeros(shape)
    for k in range(1, b.cnt.shape[1]):
        live = k < b.n
        curr = b.cnt[:, k, :].copy()  # the row is overwritten below
        same = curr == prev
        noise = ~same & almost_equal(prev, curr, SMALL_DELTA_TOLERANCE)
        drop = ~same & ~noise & (curr < prev)
        # Neither fix moves ``prev``: the envelope follows the last accepted count.
        b.cnt[:, k, :] = np.where(live & (noise | drop), prev, curr)
        hit = live & drop
        bound = b.ub[:, k, :]
        forced |= hit
        min_bucket = np.where(hit & (bound < min_bucket), bound, min_bucket)
        max_bucket = np.where(hit & (bound > max_bucket), bound, max_bucket)
        diff = prev - curr
        max_diff = np.where(hit & (diff > max_diff), diff, max_diff)
        prev = np.where(live & ~same & ~noise & ~drop, curr, prev)
    return _Forced(forced, min_bucket, max_bucket, max_diff)


def _search(b: _Block, rank: F64Array) -> I64Array:
    """Go's ``sort.Search(n-1, count[i] >= rank)`` for every (group, step) at once."""
    lo = np.zeros(b.n.shape, dtype=np.int64)
    hi = np.maximum(b.n - 1, 0)
    while True:
        live = lo < hi
        if not live.any():
            return lo
        mid = (lo + hi) >> 1
        ok = b.at(b.cnt, mid) >= rank
        lo = np.where(live & ~ok, mid + 1, lo)
        hi = np.where(live & ok, mid, hi)


def _quantile_block(b: _Block, q: F64Array) -> tuple[F64Array, _Forced, BoolArray]:
    """BucketQuantile for one block; also the lanes whose monotonicity fix counts."""
    has = b.n > 0
    last = b.n - 1
    inf_top = b.at(b.ub, last) == np.inf
    fixes = _ensure_monotonic(b)
    observations = b.at(b.cnt, last)
    rank = q * observations
    found = _search(b, rank)
    upper = b.at(b.ub, found)
    below_ub = b.at(b.ub, found - 1)
    below_cnt = b.at(b.cnt, found - 1)
    inside = found > 0
    start = np.where(inside, below_ub, 0.0)
    count = np.where(inside, b.at(b.cnt, found) - below_cnt, b.at(b.cnt, found))
    into = np.where(inside, rank - below_cnt, rank)
    value = start + (upper - start) * (into / count)
    value = np.where((found == 0) & (b.at(b.ub, found) <= 0), b.at(b.ub, found), value)
    value = np.where(found == last, b.at(b.ub, last - 1), value)
    value = np.where((b.n < 2) | (observations == 0), np.nan, value)
    value = np.where(inf_top, value, np.nan)
    valid_q = (q >= 0) & (q <= 1)
    value = np.where(q < 0, -np.inf, np.where(q > 1, np.inf, value))
    value = np.where(np.isnan(q), np.nan, value)
    # The fix is reported only when upstream got as far as making the counts monotonic.
    reported = has & valid_q & inf_top & fixes.forced
    return value, fixes, reported


def bucket_quantile(
    q: F64Array,
    upper_bounds: F64Array,
    group: I64Array,
    counts: F64Array,
    present: BoolArray,
    n_groups: int,
    notes: Annotations,
    metric_names: list[str] | None = None,
    *,
    step_times: I64Array | None = None,
    forced: list[ForcedMonotonicity] | None = None,
) -> tuple[F64Array, BoolArray]:
    """``histogram_quantile(q, buckets)`` for classic buckets; ``q`` has shape (steps,).

    Emits the invalid-quantile warning for every step whose ``q`` is NaN or outside [0, 1]
    (upstream validates at every step, data or not), and one forced-monotonicity info per
    metric name (``metric_names[g]``, the name of group g's buckets once delayed name
    removal is on, else ``""``). With ``forced``, the merged details of those fixes are
    appended, one record per metric name (timestamps from ``step_times``), for the HTTP
    rendering of the info.
    """
    q = np.asarray(q, dtype=np.float64)
    steps = q.size
    values = np.zeros((n_groups, steps))
    out_present = np.zeros((n_groups, steps), dtype=bool)
    for bad in dict.fromkeys(q[~((q >= 0) & (q <= 1))].tolist()):
        notes.warn(invalid_quantile(bad))
    if group.size == 0 or n_groups == 0:
        return values, out_present
    records: dict[str, ForcedMonotonicity] = {}
    with np.errstate(all="ignore"):
        for b in _blocks(upper_bounds, group, counts, present, n_groups):
            value, fixes, reported = _quantile_block(b, np.broadcast_to(q[b.steps], b.n.shape))
            has = b.n > 0
            values[:, b.steps] = np.where(has, value, 0.0)
            out_present[:, b.steps] = has
            if reported.any():
                times = None if step_times is None else np.asarray(step_times)[b.steps]
                _collect(records, fixes, reported, metric_names, times)
    for name, record in records.items():
        notes.info(forced_monotonicity(name))
        if forced is not None:
            forced.append(record)
    return values, out_present


def _collect(
    records: dict[str, ForcedMonotonicity],
    fixes: _Forced,
    reported: BoolArray,
    metric_names: list[str] | None,
    step_times: I64Array | None,
) -> None:
    """Merge the reported fixes of one block into per-metric-name records."""
    g_idx, t_idx = np.nonzero(reported)
    if metric_names is None:
        name_of = np.full(g_idx.size, "", dtype=object)
    else:
        name_of = np.array(metric_names, dtype=object)[g_idx]
    for name in dict.fromkeys(name_of.tolist()):  # distinct metric names, not samples
        sel = name_of == name
        gi, ti = g_idx[sel], t_idx[sel]
        ts = None if step_times is None else step_times[ti]
        record = ForcedMonotonicity(
            metric_name=str(name),
            samples=int(gi.size),
            min_ts_ms=None if ts is None else int(ts.min()),
            max_ts_ms=None if ts is None else int(ts.max()),
            min_bucket=float(fixes.min_bucket[gi, ti].min()),
            max_bucket=float(fixes.max_bucket[gi, ti].max()),
            max_diff=float(fixes.max_diff[gi, ti].max()),
        )
        if name in records:
            records[name].merge(record)
        else:
            records[name] = record


def _interpolate(
    v: F64Array, lo: F64Array, hi: F64Array, count: F64Array, rank: F64Array
) -> F64Array:
    """BucketFraction's interpolateLinearly: ``count - rank`` observations spread over
    (lo, hi]; a bucket open to -Inf contributes nothing but its cumulative count."""
    out: F64Array = np.where(lo == -np.inf, count, rank + (count - rank) * (v - lo) / (hi - lo))
    return out


def _fraction_block(b: _Block, lower: F64Array, upper: F64Array) -> F64Array:
    """BucketFraction for one block (no monotonicity fix, as upstream)."""
    shape = b.n.shape
    last = b.n - 1
    total = b.at(b.cnt, last)
    rank = np.zeros(shape)
    lower_rank, upper_rank = np.zeros(shape), np.zeros(shape)
    lower_set = np.zeros(shape, dtype=bool)
    upper_set = np.zeros(shape, dtype=bool)
    done = np.zeros(shape, dtype=bool)
    # Positive-only buckets start at 0; if the first bound is <= 0, the first bucket is open.
    first_lower = np.where(b.ub[:, 0, :] <= 0, -np.inf, 0.0)
    for k in range(b.ub.shape[1]):
        bucket_lo = first_lower if k == 0 else b.ub[:, k - 1, :]
        bucket_hi, count = b.ub[:, k, :], b.cnt[:, k, :]
        live = (k < b.n) & ~done
        # The bound is at this bucket's lower edge: no interpolation needed.
        hit = live & ~lower_set & (bucket_lo >= lower)
        lower_rank = np.where(hit, rank, lower_rank)
        lower_set |= hit
        hit = live & ~upper_set & (bucket_lo >= upper)
        upper_rank = np.where(hit, rank, upper_rank)
        upper_set |= hit
        stop = live & lower_set & upper_set
        live &= ~stop
        # The bound is inside this bucket.
        hit = live & ~lower_set & (bucket_lo < lower) & (bucket_hi > lower)
        lower_rank = np.where(
            hit, _interpolate(lower, bucket_lo, bucket_hi, count, rank), lower_rank
        )
        lower_set |= hit
        hit = live & ~upper_set & (bucket_lo < upper) & (bucket_hi > upper)
        upper_rank = np.where(
            hit, _interpolate(upper, bucket_lo, bucket_hi, count, rank), upper_rank
        )
        upper_set |= hit
        stop2 = live & lower_set & upper_set
        rank = np.where(live & ~stop2, count, rank)  # counts are cumulative: assign, not add
        done |= stop | stop2
    lower_rank = np.where(~lower_set | (lower_rank > total), total, lower_rank)
    upper_rank = np.where(~upper_set | (upper_rank > total), total, upper_rank)
    value = (upper_rank - lower_rank) / total
    value = np.where(lower >= upper, 0.0, value)
    value = np.where((total == 0) | np.isnan(lower) | np.isnan(upper), np.nan, value)
    out: F64Array = np.where(b.at(b.ub, last) == np.inf, value, np.nan)
    return out


def bucket_fraction(
    lower: F64Array,
    upper: F64Array,
    upper_bounds: F64Array,
    group: I64Array,
    counts: F64Array,
    present: BoolArray,
    n_groups: int,
) -> tuple[F64Array, BoolArray]:
    """``histogram_fraction(lower, upper, buckets)`` for classic buckets.

    ``lower``/``upper`` have shape (steps,). Upstream emits no annotations here.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    steps = lower.size
    values = np.zeros((n_groups, steps))
    out_present = np.zeros((n_groups, steps), dtype=bool)
    if group.size == 0 or n_groups == 0:
        return values, out_present
    with np.errstate(all="ignore"):
        for b in _blocks(upper_bounds, group, counts, present, n_groups):
            lo = np.broadcast_to(lower[b.steps], b.n.shape)
            hi = np.broadcast_to(upper[b.steps], b.n.shape)
            value = _fraction_block(b, lo, hi)
            has = b.n > 0
            values[:, b.steps] = np.where(has, value, 0.0)
            out_present[:, b.steps] = has
    return values, out_present
