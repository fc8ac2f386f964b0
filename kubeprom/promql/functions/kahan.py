"""Kahan-Neumaier summation, vectorised over many independent running sums.

Prometheus sums with ``kahansum.Inc`` (``util/kahansum``) in ``sum_over_time``,
``avg_over_time``, ``stddev_over_time``, ``deriv`` and ``predict_linear``. Conformance tests
expect results that only this exact algorithm produces (``avg_over_time(...) - 52 == 0``), so
the operation order below is upstream's, step for step. Every lane is its own sum; callers
feed one addend per lane per call, in sample order.
"""

from __future__ import annotations

import numpy as np

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
