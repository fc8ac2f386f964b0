"""Go's ``int64(v)`` of sample values, for the date functions.

The date functions (``year()``, ``day_of_week()``, ...) convert a sample value with Go's
``int64(v)``: truncation toward zero, and on amd64 (``CVTTSD2SQ``) NaN, +/-Inf and values
outside the int64 range all become ``math.MinInt64``. The calendar fields then come from
:func:`kubeprom.model.timeutil.civil_utc`.
"""

from __future__ import annotations

import numpy as np

from kubeprom.model.samples import F64Array, I64Array

_MIN_INT64 = -(2**63)
# 2**63 as a float64: the first value Go's conversion can no longer represent.
_TWO_63 = 9.223372036854775808e18


def go_int64_seconds(values: F64Array) -> I64Array:
    """Go's ``int64(v)`` on amd64: truncate toward zero; NaN, Inf and overflow -> MinInt64."""
    ok = (values >= -_TWO_63) & (values < _TWO_63)  # False for NaN
    out = np.full(values.shape, _MIN_INT64, dtype=np.int64)
    out[ok] = np.trunc(values[ok]).astype(np.int64)
    return out
