"""Kahan-Neumaier summation, vectorised over many independent running sums.

Prometheus sums with ``kahansum.Inc`` (``util/kahansum``) in ``sum_over_time``,
``avg_over_time``, ``stddev_over_time``, ``deriv`` and ``predict_linear``. Conformance tests
expect results that only this exact algorithm produces (``avg_over_time(...) - 52 == 0``), so
the operation order below is upstream's, step for step. Every lane is its own sum; callers
feed one addend per lane per call, in sample order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kubeprom.model.samples import F64Array


def kahan_inc(inc: F64Array, total: F64Array, comp: F64Array) -> tuple[F64Array, F64Array]:
    """One ``kahansum.Inc(inc, sum, c)`` per lane; returns the new (sum, compensation).

    Callers must silence numpy float warnings (``np.errstate``): NaN and Inf are ordinary
    inputs here. The arrays are not modified.
    """
    t = total + inc
    # Neumaier's improvement: compensate with whichever operand is smaller in magnitude.
    # NaN compares false, so it takes the second branch, as in Go.
    lost = np.where(np.abs(total) >= np.abs(inc), (total - t) + inc, (inc - t) + total)
    # Once the sum overflows the compensation is meaningless; upstream resets it to 0.
    new_comp: F64Array = np.where(np.isinf(t), 0.0, comp + lost)
    return t, new_comp


def kahan_inc_scalar(inc: float, total: float, comp: float) -> tuple[float, float]:
    """The same step for one Python float: the reference the vector version must equal."""
    t = total + inc
    if t in (float("inf"), float("-inf")):
        return t, 0.0
    if abs(total) >= abs(inc):
        return t, comp + ((total - t) + inc)
    return t, comp + ((inc - t) + total)


def kahan_sum_parts(
    x: F64Array, n: npt.NDArray[np.int64]
) -> tuple[F64Array, F64Array, npt.NDArray[np.bool_]]:
    """``kahansum`` of each row's first ``n`` addends, for every row at once, bit-exactly:
    the running sum, its compensation, and whether any partial sum overflowed.

    Neumaier's running ``sum`` is the plain left-to-right float sum, and its compensation is
    the left-to-right float sum of each addition's exact error (the branch on magnitudes is
    Fast2Sum). ``np.cumsum`` accumulates strictly in order, so two cumsums along the last axis
    reproduce upstream's loop exactly. ``x`` is (..., L) with any padding after ``n``; rows
    with ``n == 0`` give 0. Where a partial sum overflowed, upstream's compensation was reset
    along the way, so the returned compensation is only meaningful where ``overflowed`` is
    False.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        total = np.cumsum(x, axis=-1)
        prev = np.zeros_like(total)
        prev[..., 1:] = total[..., :-1]
        err = np.where(np.abs(prev) >= np.abs(x), (prev - total) + x, (x - total) + prev)
        comp = np.cumsum(err, axis=-1)
        last = np.broadcast_to(np.maximum(n - 1, 0)[..., None], (*total.shape[:-1], 1))
        final = np.take_along_axis(total, last, -1)[..., 0]
        final_comp = np.take_along_axis(comp, last, -1)[..., 0]
        within = np.arange(x.shape[-1]) < n[..., None]
        overflowed: npt.NDArray[np.bool_] = np.asarray((np.isinf(total) & within).any(axis=-1))
    empty = n == 0
    out_total: F64Array = np.where(empty, 0.0, final)
    out_comp: F64Array = np.where(empty, 0.0, final_comp)
    return out_total, out_comp, overflowed


def kahan_sum_columns(x: F64Array, n: npt.NDArray[np.int64]) -> tuple[F64Array, F64Array]:
    """Kahan sums down the columns of ``x`` (steps, lanes), each over its first ``n`` rows:
    upstream's running sum and compensation after the last addend, bit for bit.

    ``x`` is consumed (overwritten). Rows past a column's ``n`` may hold anything, NaN and
    Inf included: a cumulative sum never looks ahead. Every lane needs ``n >= 1``. Both
    cumulative sums run along axis 0, so each addition is one SIMD operation over all lanes.
    The compensation adds each addition's exact rounding error, computed with TwoSum (no
    branch on magnitudes; the same exact error as upstream's Fast2Sum). Once a sum overflows
    upstream resets its compensation, and an overflowed sum never becomes finite again, so
    callers report an infinite sum as is and need the compensation only where the sum is
    finite. Callers hold ``np.errstate(all="ignore")``.
    """
    lanes = np.arange(x.shape[1])
    last = n - 1
    x[0] += 0.0  # upstream starts from +0.0, so a leading -0.0 adds up to +0.0
    total = np.cumsum(x, axis=0)
    if x.shape[0] == 1:
        return total[0], np.zeros(x.shape[1])
    # err[k - 1]: the exact error of total[k] = total[k - 1] + x[k]
    before, inc, after = total[:-1], x[1:], total[1:]
    b_virtual = after - before
    err = after - b_virtual
    np.subtract(before, err, out=err)
    np.subtract(inc, b_virtual, out=b_virtual)
    err += b_virtual
    err[0] += 0.0  # upstream's compensation also starts from +0.0
    np.cumsum(err, axis=0, out=err)
    comp: F64Array = np.where(last >= 1, err[np.maximum(last - 1, 0), lanes], 0.0)
    out: F64Array = total[last, lanes]
    return out, comp


def kahan_result(total: F64Array, comp: F64Array) -> F64Array:
    """``sum + compensation`` as upstream reports a Kahan sum; an infinite sum as is (its
    compensation may be NaN after the overflow: the sum is taken where it is not used).

    A NaN sum is returned as is too: Go's scalar ``sum + c`` keeps the sum's NaN when both
    are NaN, while numpy's SIMD addition of long arrays may keep either operand's, so the
    sign bit of a NaN result would depend on how many windows were summed at once."""
    with np.errstate(invalid="ignore"):
        out: F64Array = np.where(np.isfinite(total), total + comp, total)
    return out


def kahan_continue_columns(
    x: F64Array, n: npt.NDArray[np.int64], total: F64Array, comp: F64Array
) -> tuple[F64Array, F64Array]:
    """Running Kahan sums ``(total, comp)`` continued down the columns of ``x`` (steps,
    lanes), each over its first ``n >= 1`` rows: the state upstream's loop has after those
    addends, bit for bit, whatever the earlier addends were.

    The running sum is the left-to-right float sum and the compensation the left-to-right
    sum of each addition's exact error (see :func:`kahan_sum_columns`), so both continue by
    prepending the carried value to a cumulative sum. Started from ``(0.0, 0.0)`` this gives
    what :func:`kahan_sum_columns` gives; a window summed in pieces gives what it gives
    whole. Callers hold ``np.errstate(all="ignore")`` and use the compensation only where
    the sum is finite.
    """
    lanes = np.arange(x.shape[1])
    rows = np.empty((x.shape[0] + 1, x.shape[1]), dtype=np.float64)
    rows[0] = total
    rows[1:] = x
    sums = np.cumsum(rows, axis=0)
    # err[k]: the exact error (TwoSum) of sums[k + 1] = sums[k] + rows[k + 1], after the
    # carried compensation in row 0.
    before, inc, after = sums[:-1], rows[1:], sums[1:]
    b_virtual = after - before
    err = np.empty_like(rows)
    err[0] = comp
    np.subtract(after, b_virtual, out=err[1:])
    np.subtract(before, err[1:], out=err[1:])
    np.subtract(inc, b_virtual, out=b_virtual)
    err[1:] += b_virtual
    np.cumsum(err, axis=0, out=err)
    out_total: F64Array = sums[n, lanes]
    out_comp: F64Array = err[n, lanes]
    return out_total, out_comp
