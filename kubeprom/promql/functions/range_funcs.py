"""Range-vector functions over float samples, vectorised over every (series, step) window.

Contract of every :data:`RangeFn`::

    fn(windows, args, notes) -> (values, present)    # both (series, steps)

* ``windows`` — the range argument; its samples must be floats with StaleNaN markers
  already removed, windows left-open ``(step_times[j] - range_ms, step_times[j]]``.
* ``args`` — the function's other (scalar) arguments in PromQL call order, each a
  float64 array of shape (steps,): ``quantile_over_time``'s φ, ``predict_linear``'s
  duration in seconds (and, optionally, a second array: the query evaluation time of each
  step in ms, see :func:`predict_linear`), ``double_exponential_smoothing``'s sf and tf.
* ``notes`` — warnings/infos are appended here (texts from
  :mod:`kubeprom.promql.functions.notes`, without prefix or position).
* ``present[i, j]`` is False where upstream returns no sample (too few samples in the
  window); ``values`` is 0 there. A NaN result is a present NaN.

Semantics are Prometheus 3.x ``promql/functions.go`` for float samples, computed with
upstream's operation order so that results are bit-identical (Go on amd64, no FMA).
Raises :class:`~kubeprom.errors.EvalError` where upstream fails the query
(``double_exponential_smoothing`` with a factor outside (0, 1)).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.gofmt import format_f
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql.checkpoint import EVERY, checkpoint
from kubeprom.promql.functions import range_stats as stats
from kubeprom.promql.functions.notes import invalid_quantile
from kubeprom.promql.functions.windows import Flat
from kubeprom.promql.types import Annotations, BoolArray, RangeWindows

RangeFn = Callable[[RangeWindows, list[F64Array], Annotations], tuple[F64Array, BoolArray]]
FlatResult = tuple[F64Array, BoolArray]

# "Close enough" to a range boundary to extrapolate all the way: up to 10% more than the
# average spacing between samples (extrapolatedRate's extrapolationThreshold).
EXTRAPOLATION_THRESHOLD = 1.1


def go_duration_seconds(ms: int) -> float:
    """Go's ``time.Duration.Seconds()`` of ``ms`` milliseconds, rounding included."""
    nanos = ms * 1_000_000
    sec, nsec = abs(nanos) // 1_000_000_000, abs(nanos) % 1_000_000_000
    sign = -1.0 if nanos < 0 else 1.0
    return sign * (float(sec) + float(nsec) / 1e9)


def _run(fn: Callable[[Flat], FlatResult], w: RangeWindows) -> tuple[F64Array, BoolArray]:
    flat = Flat.of(w)
    with np.errstate(all="ignore"):
        values, present = fn(flat)
        return flat.shaped(values, present)


def _per_window(flat: Flat, per_step: F64Array) -> F64Array:
    out: F64Array = np.asarray(per_step, dtype=np.float64)[flat.step]
    return out


# ---- rate, increase, delta ------------------------------------------------------------------


def _reset_correction(flat: Flat, first: I64Array, last: I64Array, result: F64Array) -> None:
    """Add, in sample order, the value before every decrease inside each window (in place).

    Decreases are rare in real counters, so they are found once over all samples and each
    window visits only its own; the additions keep upstream's left-to-right order.
    """
    v = flat.v
    drops = np.flatnonzero(v[1:] < v[:-1]) + 1  # sample i is lower than sample i-1
    if drops.size == 0:
        return
    begin = np.searchsorted(drops, first, side="right")  # drops i with first < i <= last
    count = np.searchsorted(drops, last, side="right") - begin
    for j in range(int(count.max(initial=0))):
        if j % EVERY == 0:
            checkpoint()
        lanes = np.flatnonzero(count > j)
        result[lanes] += v[drops[begin[lanes] + j] - 1]


def _extrapolated_rate(
    flat: Flat, is_counter: bool, is_rate: bool, zero_point_first: bool = False
) -> FlatResult:
    """extrapolatedRate for float samples (windows with >= 2 samples).

    ``zero_point_first``: Prometheus 2.x's order, the zero-point cap before the threshold
    test (only for differential testing against 2.x)."""
    out, present = flat.output()
    ids = np.flatnonzero(flat.n >= 2)
    first = flat.lo[ids]
    last = first + flat.n[ids] - 1
    t_first, t_last = flat.t[first], flat.t[last]
    v_first = flat.v[first]
    result = flat.v[last] - v_first
    if is_counter:
        _reset_correction(flat, first, last, result)
    range_end = flat.end_ms[ids]
    range_start = range_end - flat.range_ms
    to_start = (t_first - range_start).astype(np.float64) / 1000
    to_end = (range_end - t_last).astype(np.float64) / 1000
    sampled = (t_last - t_first).astype(np.float64) / 1000
    average = sampled / (flat.n[ids] - 1).astype(np.float64)
    threshold = average * EXTRAPOLATION_THRESHOLD
    if not zero_point_first:
        to_start = np.where(to_start >= threshold, average / 2, to_start)
    if is_counter:
        # A counter cannot go below zero: do not extrapolate past its zero point.
        to_zero = np.where((result > 0) & (v_first >= 0), sampled * (v_first / result), to_start)
        to_start = np.where(to_zero < to_start, to_zero, to_start)
    if zero_point_first:
        to_start = np.where(to_start >= threshold, average / 2, to_start)
    to_end = np.where(to_end >= threshold, average / 2, to_end)
    factor = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor = factor / go_duration_seconds(flat.range_ms)
    out[ids] = result * factor
    present[ids] = True
    return out, present


def rate(w: RangeWindows, args: list[F64Array], notes: Annotations) -> tuple[F64Array, BoolArray]:
    """Per-second increase of a counter, extrapolated to the window edges."""
    return _run(lambda f: _extrapolated_rate(f, is_counter=True, is_rate=True), w)


def increase(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """Increase of a counter over the window, extrapolated to its edges."""
    return _run(lambda f: _extrapolated_rate(f, is_counter=True, is_rate=False), w)


def rate_v2(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """``rate`` with Prometheus 2.x's extrapolation order (differential testing only)."""
    return _run(lambda f: _extrapolated_rate(f, True, True, zero_point_first=True), w)


def increase_v2(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """``increase`` with Prometheus 2.x's extrapolation order (differential testing only)."""
    return _run(lambda f: _extrapolated_rate(f, True, False, zero_point_first=True), w)


def delta(w: RangeWindows, args: list[F64Array], notes: Annotations) -> tuple[F64Array, BoolArray]:
    """Difference between last and first sample of a gauge, extrapolated."""
    return _run(lambda f: _extrapolated_rate(f, is_counter=False, is_rate=False), w)


# ---- irate, idelta, resets, changes ----------------------------------------------------------


def _instant_value(flat: Flat, is_rate: bool) -> FlatResult:
    """instantValue: from the last two samples of the window."""
    out, present = flat.output()
    ids = np.flatnonzero(flat.n >= 2)
    last = flat.lo[ids] + flat.n[ids] - 1
    prev_v, last_v = flat.v[last - 1], flat.v[last]
    result = last_v - prev_v
    if is_rate:
        # After a counter reset the rate is counted from zero (NaN compares false: no reset).
        result = np.where(last_v < prev_v, last_v, result)
        result = result / ((flat.t[last] - flat.t[last - 1]).astype(np.float64) / 1000)
    out[ids] = result
    present[ids] = True
    return out, present


def irate(w: RangeWindows, args: list[F64Array], notes: Annotations) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: _instant_value(f, is_rate=True), w)


def idelta(w: RangeWindows, args: list[F64Array], notes: Annotations) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: _instant_value(f, is_rate=False), w)


def _pair_count(flat: Flat, flags: BoolArray) -> FlatResult:
    """How many consecutive sample pairs inside each window are flagged.

    ``flags[i]`` flags the pair (i-1, i); a window [lo, last] holds pairs lo+1..last, so
    pairs that cross series boundaries are never counted. Integer prefix sums are exact.
    """
    out, present = flat.output()
    prefix = np.concatenate(([0, 0], np.cumsum(flags, dtype=np.int64)))  # prefix[i+1]: ..i
    ids = np.flatnonzero(flat.n >= 1)
    lo = flat.lo[ids]
    hi = lo + flat.n[ids]
    out[ids] = (prefix[hi] - prefix[lo + 1]).astype(np.float64)
    present[ids] = True
    return out, present


def resets(w: RangeWindows, args: list[F64Array], notes: Annotations) -> tuple[F64Array, BoolArray]:
    def run(f: Flat) -> FlatResult:
        return _pair_count(f, f.v[1:] < f.v[:-1])

    return _run(run, w)


def changes(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    def run(f: Flat) -> FlatResult:
        a, b = f.v[:-1], f.v[1:]
        return _pair_count(f, (b != a) & ~(np.isnan(a) & np.isnan(b)))

    return _run(run, w)


# ---- deriv, predict_linear ------------------------------------------------------------------


def deriv(w: RangeWindows, args: list[F64Array], notes: Annotations) -> tuple[F64Array, BoolArray]:
    """Slope of the least-squares line through the window, per second."""

    def run(f: Flat) -> FlatResult:
        out, present = f.output()
        ids, slope, _ = stats.linear_regression(f, None)
        out[ids] = slope
        present[ids] = True
        return out, present

    return _run(run, w)


def predict_linear(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """The least-squares line through the window, evaluated ``args[0]`` seconds after the
    query evaluation time.

    Upstream regresses relative to the *query* evaluation time of the step (``enh.Ts``),
    not to the window's end: they differ under ``offset`` and ``@``
    (``predict_linear(x[5m] @ 3000, 3600)`` at 600 s predicts for 4200 s). Pass those
    times, in ms, as ``args[1]``; without it ``windows.step_times`` is used, which is only
    right when the selector has neither ``offset`` nor ``@``.
    """

    def run(f: Flat) -> FlatResult:
        out, present = f.output()
        if len(args) > 1:
            eval_ms = np.asarray(args[1], dtype=np.float64).astype(np.int64)[f.step]
        else:
            eval_ms = f.end_ms
        ids, slope, intercept = stats.linear_regression(f, eval_ms)
        out[ids] = slope * _per_window(f, args[0])[ids] + intercept
        present[ids] = True
        return out, present

    return _run(run, w)


# ---- *_over_time -----------------------------------------------------------------------------


def _pick_sample(flat: Flat, last: bool, timestamp: bool) -> FlatResult:
    out, present = flat.output()
    ids = np.flatnonzero(flat.n >= 1)
    idx = flat.lo[ids] + (flat.n[ids] - 1 if last else 0)
    out[ids] = flat.t[idx].astype(np.float64) / 1000 if timestamp else flat.v[idx]
    present[ids] = True
    return out, present


def first_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: _pick_sample(f, last=False, timestamp=False), w)


def last_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: _pick_sample(f, last=True, timestamp=False), w)


def ts_of_first_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: _pick_sample(f, last=False, timestamp=True), w)


def ts_of_last_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: _pick_sample(f, last=True, timestamp=True), w)


def count_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    def run(f: Flat) -> FlatResult:
        present = f.n >= 1
        return f.n.astype(np.float64), present

    return _run(run, w)


def present_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    def run(f: Flat) -> FlatResult:
        present = f.n >= 1
        return np.ones(present.shape), present

    return _run(run, w)


def sum_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(stats.sum_over_time, w)


def avg_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(stats.avg_over_time, w)


def stddev_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: stats.variance_over_time(f, stddev=True), w)


def stdvar_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: stats.variance_over_time(f, stddev=False), w)


def max_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: stats.compare_over_time(f, np.greater, timestamp=False), w)


def min_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    return _run(lambda f: stats.compare_over_time(f, np.less, timestamp=False), w)


def ts_of_max_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """Time (s) of the last sample holding the maximum."""
    return _run(lambda f: stats.compare_over_time(f, np.greater_equal, timestamp=True), w)


def ts_of_min_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """Time (s) of the last sample holding the minimum."""
    return _run(lambda f: stats.compare_over_time(f, np.less_equal, timestamp=True), w)


def quantile_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """φ-quantile (``args[0]``) of each window; warns once per invalid φ that is used."""

    def run(f: Flat) -> FlatResult:
        q = _per_window(f, args[0])
        used = f.n >= 1
        bad = used & ~((q >= 0) & (q <= 1))
        for value in dict.fromkeys(q[bad].tolist()):  # distinct, in first-seen order
            notes.warn(invalid_quantile(value))
        return stats.quantile_over_time(f, q)

    return _run(run, w)


def mad_over_time(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """Median absolute deviation from the median of each window."""
    return _run(stats.mad_over_time, w)


def double_exponential_smoothing(
    w: RangeWindows, args: list[F64Array], notes: Annotations
) -> tuple[F64Array, BoolArray]:
    """Holt's linear smoothing with factors ``args[0]`` (sf) and ``args[1]`` (tf).

    Raises EvalError, worded as upstream's panic, when a factor is outside (0, 1) at a
    step where some window has samples (upstream checks only when it is called).
    """

    def run(f: Flat) -> FlatResult:
        sf, tf = _per_window(f, args[0]), _per_window(f, args[1])
        sf_bad = ~((sf > 0) & (sf < 1))
        tf_bad = ~((tf > 0) & (tf < 1))
        offending = np.flatnonzero((f.n >= 1) & (sf_bad | tf_bad))
        if offending.size:
            # Upstream evaluates series by series: the first offending window fails.
            i = int(offending[0])
            if sf_bad[i]:
                raise EvalError(
                    f"invalid smoothing factor. Expected: 0 < sf < 1, got: {format_f(sf[i], 6)}"
                )
            raise EvalError(
                f"invalid trend factor. Expected: 0 < tf < 1, got: {format_f(tf[i], 6)}"
            )
        return stats.double_exponential_smoothing(f, sf, tf)

    return _run(run, w)


RANGE_FUNCTIONS: dict[str, RangeFn] = {
    "avg_over_time": avg_over_time,
    "changes": changes,
    "count_over_time": count_over_time,
    "delta": delta,
    "deriv": deriv,
    "double_exponential_smoothing": double_exponential_smoothing,
    "first_over_time": first_over_time,
    "idelta": idelta,
    "increase": increase,
    "irate": irate,
    "last_over_time": last_over_time,
    "mad_over_time": mad_over_time,
    "max_over_time": max_over_time,
    "min_over_time": min_over_time,
    "predict_linear": predict_linear,
    "present_over_time": present_over_time,
    "quantile_over_time": quantile_over_time,
    "rate": rate,
    "resets": resets,
    "stddev_over_time": stddev_over_time,
    "stdvar_over_time": stdvar_over_time,
    "sum_over_time": sum_over_time,
    "ts_of_first_over_time": ts_of_first_over_time,
    "ts_of_last_over_time": ts_of_last_over_time,
    "ts_of_max_over_time": ts_of_max_over_time,
    "ts_of_min_over_time": ts_of_min_over_time,
}

# Prometheus 2.x variants, used instead of the above under ``Compat.V2_RATE``.
V2_RANGE_FUNCTIONS = {"increase": increase_v2, "rate": rate_v2}
