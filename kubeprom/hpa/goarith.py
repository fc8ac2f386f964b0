"""Go's integer and float semantics where the HPA controller relies on them.

Go's int64 and int32 arithmetic wraps, its integer division truncates toward zero, a float
division by zero gives an infinity or NaN, and converting an out-of-range float to an
integer gives the "integer indefinite" value on amd64 (the most negative integer). The
controller's numbers go through these exactly, so they are spelled out here once.
"""

from __future__ import annotations

import math

INT32_MAX = (1 << 31) - 1
INT32_MIN = -(1 << 31)
INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


def wrap64(x: int) -> int:
    """``int64(x)`` of an exact integer: the low 64 bits, signed."""
    return (x + (1 << 63)) % (1 << 64) - (1 << 63)


def wrap32(x: int) -> int:
    """``int32(x)`` of an integer: the low 32 bits, signed."""
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def div(a: int, b: int) -> int:
    """Go's ``a / b`` for integers (truncates toward zero); int64 ``MinInt64 / -1`` wraps."""
    q = abs(a) // abs(b)
    return wrap64(q if (a >= 0) == (b >= 0) else -q)


def fdiv(a: float, b: float) -> float:
    """IEEE division as Go does it: ``x / 0`` is ±Inf, ``0 / 0`` is NaN."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def to_int32(x: float) -> int:
    """``int32(x)`` of a float on amd64: truncation, or MinInt32 when out of range or NaN."""
    if math.isnan(x) or not INT32_MIN <= x < INT32_MAX + 1:
        return INT32_MIN
    return int(x)


def to_int64(x: float) -> int:
    """``int64(x)`` of a float on amd64: truncation, or MinInt64 when out of range or NaN."""
    if math.isnan(x) or not INT64_MIN <= x < 2.0**63:
        return INT64_MIN
    return int(x)


def ceil32(x: float) -> int:
    """``int32(math.Ceil(x))``."""
    return to_int32(fceil(x))


def fceil(x: float) -> float:
    """``math.Ceil``: infinities and NaN pass through (Python's ``math.ceil`` raises)."""
    return float(math.ceil(x)) if math.isfinite(x) else x
