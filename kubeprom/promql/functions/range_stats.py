"""The order-sensitive ``*_over_time`` statistics, as sequential passes over windows.

Each function here reproduces one upstream loop from ``promql/functions.go`` operation for
operation (see :mod:`kubeprom.promql.functions.windows` for how the loop runs over all
windows at once). They take a :class:`Flat` and return flat ``(values, present)``; callers
must hold ``np.errstate(all="ignore")`` because NaN and Inf are ordinary sample values.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql.checkpoint import checkpoint
from kubeprom.promql.functions.kahan import kahan_inc, kahan_result, kahan_sum_columns
from kubeprom.promql.functions.windows import MATRIX_BUDGET, Chunk, Flat, chunks
from kubeprom.promql.types import BoolArray

Compare = Callable[[F64Array, F64Array], BoolArray]


# Samples (windows x longest window) per chunk of a column-wise Kahan pass: a float64
# temporary is then 512 KiB: the handful of them stays in the CPU cache and adds little
# to the peak memory of a query.
COLUMN_BUDGET = 1 << 16
# The regression's passes keep about ten such temporaries (times, x, y, products, TwoSum
# terms) per chunk: smaller chunks that stay in L1/L2 measured 1.5x faster than 1 << 15.
REGRESSION_BUDGET = 1 << 13
# Samples per call of the compiled regression: the query's checkpoint runs between calls
# (about 5 ms of work each), as it does every few thousand numpy passes elsewhere.
NATIVE_BATCH = 1 << 20


def _load_native() -> ModuleType | None:
    """The C regression (``_regression.c``), built by ``pip install``; ``None`` in a source
    tree where it was not built, which then uses the numpy passes (same results, slower)."""
    try:
        return importlib.import_module("kubeprom.promql.functions._regression")
    except ImportError:
        return None


NATIVE = _load_native()


def sum_over_time(flat: Flat) -> tuple[F64Array, BoolArray]:
    """funcSumOverTime: Kahan sum from 0; an infinite sum is returned uncompensated."""
    out, present = flat.output()
    for ch in chunks(flat, 1, COLUMN_BUDGET):
        total, comp = kahan_sum_columns(flat.v[ch.column_index()], ch.n)
        out[ch.ids] = kahan_result(total, comp)
        present[ch.ids] = True
    return out, present


def avg_over_time(flat: Flat) -> tuple[F64Array, BoolArray]:
    """funcAvgOverTime: a direct Kahan mean that turns incremental when the sum overflows.

    A window whose sum stays finite never turns incremental, and its mean comes from the
    column-wise Kahan sum; the others (an infinite or NaN sum) replay upstream's loop.
    """
    out, present = flat.output()
    for ch in chunks(flat, 1, COLUMN_BUDGET):
        total, comp = kahan_sum_columns(flat.v[ch.column_index()], ch.n)
        n = ch.n.astype(np.float64)
        out[ch.ids] = total / n + comp / n
        present[ch.ids] = True
        odd = ~np.isfinite(total)
        if odd.any():
            sub = ch.subset(odd)
            out[sub.ids] = _avg_sequential(sub)
    return out, present


def _avg_sequential(ch: Chunk) -> F64Array:
    """Upstream's avg_over_time loop over a chunk's windows, one sample offset at a time."""
    size = ch.ids.size
    total = ch.values(0).copy()
    comp = np.zeros(size)
    mean = np.zeros(size)
    incremental = np.zeros(size, dtype=bool)
    for k in range(1, ch.max_len):
        a = ch.active[k]
        x = ch.values(k)
        count = float(k + 1)
        inc = incremental[:a]
        new_total, new_comp = kahan_inc(x, total[:a], comp[:a])
        keep = ~inc & ~np.isinf(new_total)
        # Lanes whose sum would overflow switch now: mean so far, compensation scaled.
        switch = ~inc & ~keep
        t_a, c_a, m_a = total[:a], comp[:a], mean[:a]
        t_a[keep] = new_total[keep]
        c_a[keep] = new_comp[keep]
        m_a[switch] = t_a[switch] / (count - 1)
        c_a[switch] = c_a[switch] / (count - 1)
        inc |= switch
        q = (count - 1) / count
        m_new, c_new = kahan_inc(x[inc] / count, q * m_a[inc], q * c_a[inc])
        m_a[inc] = m_new
        c_a[inc] = c_new
    n = ch.n.astype(np.float64)
    direct = total / n + comp / n
    out: F64Array = np.where(incremental, mean + comp, direct)
    return out


def variance_over_time(flat: Flat, stddev: bool) -> tuple[F64Array, BoolArray]:
    """varianceOverTime: Welford's algorithm with Kahan-compensated mean and sum."""
    out, present = flat.output()
    for ch in chunks(flat, 1):
        size = ch.ids.size
        mean, c_mean = np.zeros(size), np.zeros(size)
        aux, c_aux = np.zeros(size), np.zeros(size)
        for k in range(ch.max_len):
            a = ch.active[k]
            x = ch.values(k)
            count = float(k + 1)
            delta = x - (mean[:a] + c_mean[:a])
            mean[:a], c_mean[:a] = kahan_inc(delta / count, mean[:a], c_mean[:a])
            aux[:a], c_aux[:a] = kahan_inc(
                delta * (x - (mean[:a] + c_mean[:a])), aux[:a], c_aux[:a]
            )
        variance = (aux + c_aux) / ch.n.astype(np.float64)
        out[ch.ids] = np.sqrt(variance) if stddev else variance
        present[ch.ids] = True
    return out, present


@dataclass(frozen=True, slots=True)
class _Prefix:
    """Prefix sums over a Flat's samples that answer per-window questions in O(1):
    timestamps (exact modulo 2**64, which window differences survive), the count of
    values that are not small integers, and the sum of those integers."""

    t: I64Array
    not_small_int: I64Array
    ints: I64Array
    bound: float  # |value| at most this counts as a small integer

    @staticmethod
    def of(flat: Flat, longest: int) -> _Prefix:
        # Any window of small integers then sums to at most 2**53 in magnitude: every
        # partial sum is exact, so upstream's Kahan sum is the plain integer sum.
        bound = float(2**53 // max(longest, 1))
        v = flat.v
        small = (v == np.trunc(v)) & (np.abs(v) <= bound)
        return _Prefix(
            t=_prefix(flat.t),
            not_small_int=_prefix((~small).astype(np.int64)),
            ints=_prefix(np.where(small, v, 0.0).astype(np.int64)),
            bound=bound,
        )


def _prefix(x: I64Array) -> I64Array:
    out = np.zeros(x.size + 1, dtype=np.int64)
    np.cumsum(x, out=out[1:])
    return out


def _time_patterns(ch: Chunk, rel: I64Array, prefix: _Prefix, origin: I64Array) -> I64Array:
    """For every window, a window with the same sample times relative to ``origin`` (itself
    when none): regular scrapes make most windows share the x values of the regression.

    Candidates agree in length, first and last offset and offset sum; each is then
    compared sample by sample with its representative.
    """
    lo, n = ch.lo, ch.n
    lanes = np.arange(n.size)
    offset_sum = prefix.t[lo + n] - prefix.t[lo] - n * origin
    keys = np.stack([n, rel[0], rel[n - 1, lanes], offset_sum], axis=1)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.reshape(-1)]
    inside = np.arange(rel.shape[0])[:, None] < n[None, :]
    differs = ((rel != rel[:, rep]) & inside).any(axis=0)
    rep[differs] = lanes[differs]
    out: I64Array = rep
    return out


def _regression_sums(
    ch: Chunk, origin: I64Array, prefix: _Prefix
) -> tuple[F64Array, F64Array, F64Array, F64Array]:
    """The four Kahan sums of linearRegression (x, y, xy, x²) for every window of a chunk.

    Windows with the same relative sample times share their x and x² sums, computed once;
    a window of small integers has its y sum from prefix sums (exact, as upstream's is).
    The rest are summed down the columns of a step-major matrix, all windows at once.
    """
    idx = ch.column_index()
    n = ch.n
    rel = ch.flat.t[idx]
    rel -= origin[None, :]
    xs = rel / 1e3  # float64(t - origin) / 1e3, as upstream
    rep = _time_patterns(ch, rel, prefix, origin)
    reps, rep_pos = np.unique(rep, return_inverse=True)
    x_reps = xs[:, reps]
    x_sums = np.concatenate([x_reps, x_reps * x_reps], axis=1)
    total, comp = kahan_sum_columns(x_sums, np.tile(n[reps], 2))
    sx_r, sx2_r = kahan_result(total, comp).reshape(2, reps.size)
    rep_pos = rep_pos.reshape(-1)
    sx, sx2 = sx_r[rep_pos], sx2_r[rep_pos]

    exact_y = prefix.not_small_int[ch.lo + n] == prefix.not_small_int[ch.lo]
    ys = ch.flat.v[idx]
    other = np.flatnonzero(~exact_y)
    np.multiply(xs, ys, out=xs)
    xy_y = np.concatenate([xs, ys[:, other]], axis=1) if other.size else xs
    total, comp = kahan_sum_columns(xy_y, np.concatenate([n, n[other]]))
    sums = kahan_result(total, comp)
    sxy = sums[: n.size]
    sy = (prefix.ints[ch.lo + n] - prefix.ints[ch.lo]).astype(np.float64)
    sy[other] = sums[n.size :]
    return sx, sy, sxy, sx2


def linear_regression(
    flat: Flat, intercept_ms: I64Array | None
) -> tuple[I64Array, F64Array, F64Array]:
    """linearRegression over every window with >= 2 samples: (ids, slope, intercept).

    ``intercept_ms`` (per flat window) is the time the intercept is reported for; ``None``
    means each window's first sample time, as ``deriv`` uses.
    """
    if NATIVE is not None:
        return _native_regression(NATIVE, flat, intercept_ms)
    return numpy_regression(flat, intercept_ms)


def _native_regression(
    native: ModuleType, flat: Flat, intercept_ms: I64Array | None
) -> tuple[I64Array, F64Array, F64Array]:
    """Upstream's loop, compiled: one pass over each window's samples (see _regression.c)."""
    ids = np.flatnonzero(flat.n >= 2)
    lo = np.ascontiguousarray(flat.lo[ids], dtype=np.int64)
    n = np.ascontiguousarray(flat.n[ids], dtype=np.int64)
    t = np.ascontiguousarray(flat.t, dtype=np.int64)
    v = np.ascontiguousarray(flat.v, dtype=np.float64)
    origin = t[lo] if intercept_ms is None else intercept_ms[ids]
    origin = np.ascontiguousarray(origin, dtype=np.int64)
    slope, intercept = np.empty(ids.size), np.empty(ids.size)
    # Batches of about NATIVE_BATCH samples, with the query's checkpoint between them.
    ends = np.searchsorted(np.cumsum(n), np.arange(NATIVE_BATCH, int(n.sum()), NATIVE_BATCH))
    start = 0
    for end in [*ends.tolist(), ids.size]:
        if end > start:
            checkpoint()
            part = slice(start, end)
            native.regress(t, v, lo[part], n[part], origin[part], slope[part], intercept[part])
        start = end
    return ids, slope, intercept


def numpy_regression(
    flat: Flat, intercept_ms: I64Array | None
) -> tuple[I64Array, F64Array, F64Array]:
    """:func:`linear_regression` as numpy passes over window matrices, for a tree without
    the compiled module (and the tests, which hold both to the reference loop)."""
    ids_out, slopes, intercepts = [], [], []
    v = flat.v
    # A window is constant when no sample differs from its predecessor inside it (NaN always
    # differs), which is upstream's "differs from the first" check; prefix sums answer it
    # for every window from one pass over the samples.
    changed = np.zeros(v.size + 1, dtype=np.int64)
    np.cumsum(v[1:] != v[:-1], out=changed[2:])
    prefix = _Prefix.of(flat, int(flat.n.max(initial=0)))
    for ch in chunks(flat, 2, REGRESSION_BUDGET):
        origin = ch.times(0) if intercept_ms is None else intercept_ms[ch.ids]
        init_y = ch.values(0)
        sx, sy, sxy, sx2 = _regression_sums(ch, origin, prefix)
        const_y = changed[ch.lo + ch.n] == changed[ch.lo + 1]
        n = ch.n.astype(np.float64)
        cov_xy = sxy - sx * sy / n
        var_x = sx2 - sx * sx / n
        slope = cov_xy / var_x
        intercept = sy / n - slope * sx / n
        # A constant series has slope 0 (NaN both when the constant is infinite).
        const_inf = const_y & np.isinf(init_y)
        slope = np.where(const_y, np.where(const_inf, np.nan, 0.0), slope)
        intercept = np.where(const_y, np.where(const_inf, np.nan, init_y), intercept)
        ids_out.append(ch.ids)
        slopes.append(slope)
        intercepts.append(intercept)
    if not ids_out:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), empty, empty
    return np.concatenate(ids_out), np.concatenate(slopes), np.concatenate(intercepts)


def compare_over_time(flat: Flat, better: Compare, timestamp: bool) -> tuple[F64Array, BoolArray]:
    """compareOverTime: keep the first sample, replace it while ``better(cur, kept)``."""
    out, present = flat.output()
    for ch in chunks(flat, 1):
        kept = ch.values(0).copy()
        kept_t = ch.times(0).copy()
        for k in range(1, ch.max_len):
            a = ch.active[k]
            x = ch.values(k)
            take = better(x, kept[:a]) | np.isnan(kept[:a])
            kept[:a] = np.where(take, x, kept[:a])
            kept_t[:a] = np.where(take, ch.times(k), kept_t[:a])
        out[ch.ids] = kept_t.astype(np.float64) / 1000 if timestamp else kept
        present[ch.ids] = True
    return out, present


def double_exponential_smoothing(
    flat: Flat, sf: F64Array, tf: F64Array
) -> tuple[F64Array, BoolArray]:
    """funcDoubleExponentialSmoothing over windows with >= 2 samples; ``sf``/``tf`` per
    window (already validated)."""
    out, present = flat.output()
    for ch in chunks(flat, 2):
        s_f, t_f = sf[ch.ids], tf[ch.ids]
        s0 = np.zeros(ch.ids.size)
        s1 = ch.values(0).copy()
        b = ch.values(1)[: ch.ids.size] - s1
        for k in range(1, ch.max_len):
            a = ch.active[k]
            x = s_f[:a] * ch.values(k)
            if k > 1:  # calcTrendValue(i-1 == 0) keeps the initial trend
                b[:a] = t_f[:a] * (s1[:a] - s0[:a]) + (1 - t_f[:a]) * b[:a]
            y = (1 - s_f[:a]) * (s1[:a] + b[:a])
            s0[:a] = s1[:a]
            s1[:a] = x + y
        out[ch.ids] = s1
        present[ch.ids] = True
    return out, present


def _sorted_windows(ch: Chunk) -> tuple[F64Array, I64Array]:
    """The chunk's windows sorted ascending with NaNs last (numpy's order), and NaN counts."""
    matrix, valid = ch.window_matrix(np.inf)
    nans: I64Array = (np.isnan(matrix) & valid).sum(axis=1)
    # Stable, as Go's insertion sort is for the small inputs where order shows: -0.0 and 0.0
    # compare equal, and which one a quantile lands on decides the sign of a zero result.
    return np.sort(matrix, axis=1, kind="stable"), nans


def _pick(sorted_rows: F64Array, nans: I64Array, pos: I64Array) -> F64Array:
    """Element ``pos`` of each row in upstream's order, where NaN sorts before everything.

    In numpy's order a row is [non-NaN ascending, padding (+Inf), NaNs]; upstream's is
    [NaNs, non-NaN ascending], so position ``p`` is NaN below the NaN count and otherwise
    numpy's element ``p - nans``.
    """
    col = np.clip(pos - nans, 0, sorted_rows.shape[1] - 1)
    got = np.take_along_axis(sorted_rows, col[:, None], axis=1)[:, 0]
    picked: F64Array = np.where(pos < nans, np.nan, got)
    return picked


def _quantile(q: F64Array, n: I64Array, sorted_rows: F64Array, nans: I64Array) -> F64Array:
    """quantile() of each row (``n`` values, ``n >= 1``), ``q`` per row."""
    qc = np.where((q >= 0) & (q <= 1), q, 0.0)  # NaN/out-of-range handled below
    rank = qc * (n - 1).astype(np.float64)
    lower = np.maximum(0.0, np.floor(rank))
    upper = np.minimum((n - 1).astype(np.float64), lower + 1)
    weight = rank - np.floor(rank)
    lo_v = _pick(sorted_rows, nans, lower.astype(np.int64))
    hi_v = _pick(sorted_rows, nans, upper.astype(np.int64))
    result = lo_v * (1 - weight) + hi_v * weight
    result = np.where(q < 0, -np.inf, result)
    result = np.where(q > 1, np.inf, result)
    out: F64Array = np.where(np.isnan(q), np.nan, result)
    return out


def quantile_over_time(flat: Flat, q: F64Array) -> tuple[F64Array, BoolArray]:
    """funcQuantileOverTime; ``q`` per flat window."""
    out, present = flat.output()
    for ch in chunks(flat, 1, MATRIX_BUDGET):
        sorted_rows, nans = _sorted_windows(ch)
        out[ch.ids] = _quantile(q[ch.ids], ch.n, sorted_rows, nans)
        present[ch.ids] = True
    return out, present


def mad_over_time(flat: Flat) -> tuple[F64Array, BoolArray]:
    """funcMadOverTime: median of absolute deviations from the median; NaN if any NaN."""
    out, present = flat.output()
    for ch in chunks(flat, 1, MATRIX_BUDGET):
        sorted_rows, nans = _sorted_windows(ch)
        half = np.full(ch.ids.size, 0.5)
        median = _quantile(half, ch.n, sorted_rows, nans)
        cols = np.arange(sorted_rows.shape[1])
        valid = cols[None, :] < ch.n[:, None]
        deviations = np.where(valid, np.abs(sorted_rows - median[:, None]), np.inf)
        dev_nans = (np.isnan(deviations) & valid).sum(axis=1)
        mad = _quantile(half, ch.n, np.sort(deviations, axis=1, kind="stable"), dev_nans)
        out[ch.ids] = np.where(nans > 0, np.nan, mad)
        present[ch.ids] = True
    return out, present
