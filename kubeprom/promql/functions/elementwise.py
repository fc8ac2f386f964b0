"""Instant-vector functions applied to each float sample on its own.

Contract of every :data:`ElementwiseFn`::

    fn(values, args) -> new_values        # values (series, steps); args each (steps,)

``args`` are the scalar arguments after the vector, in call order (``clamp``'s min and
max, ``round``'s optional ``to_nearest``). The result is a new array of the same shape;
presence is unchanged, except for ``clamp`` whose empty steps
:data:`ELEMENTWISE_EMPTY_STEPS` reports (see :func:`clamp`). Histogram samples, the
``__name__`` drop and the zero-argument forms (``year()`` meaning ``year(vector(time()))``,
``pi()``) are the evaluator's.

Semantics follow ``promql/functions.go``: ``math.Max``/``math.Min`` rules for clamping,
``round`` via ``floor(v / to_nearest + 0.5)`` with the inverse trick, Go's ``int64(v)``
conversion before the date functions. The transcendental functions use numpy's libm,
which may differ from Go's pure-Go implementations in the last bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kubeprom.model.samples import F64Array, I64Array
from kubeprom.model.timeutil import Civil, civil_utc
from kubeprom.promql.functions.civil import go_int64_seconds
from kubeprom.promql.types import BoolArray

ElementwiseFn = Callable[[F64Array, list[F64Array]], F64Array]
StepFilter = Callable[[list[F64Array]], BoolArray]

_Unary = Callable[[F64Array], F64Array]


def _unary(op: _Unary) -> ElementwiseFn:
    def fn(values: F64Array, args: list[F64Array]) -> F64Array:
        with np.errstate(all="ignore"):
            out: F64Array = op(np.asarray(values, dtype=np.float64))
            return out

    fn.__doc__ = f"Applies {getattr(op, '__name__', 'the operation')} to every sample."
    return fn


def _column(arg: F64Array) -> F64Array:
    """A per-step scalar argument broadcastable against (series, steps)."""
    out: F64Array = np.asarray(arg, dtype=np.float64)[None, :]
    return out


def go_max(a: F64Array, b: F64Array) -> F64Array:
    """Go's ``math.Max``: +Inf wins over NaN, NaN over numbers, +0 over -0."""
    both_zero = (a == 0) & (b == 0)
    out = np.where(a > b, a, b)
    out = np.where(both_zero, np.where(np.signbit(a) & np.signbit(b), -0.0, 0.0), out)
    out = np.where(np.isnan(a) | np.isnan(b), np.nan, out)
    result: F64Array = np.where((a == np.inf) | (b == np.inf), np.inf, out)
    return result


def go_min(a: F64Array, b: F64Array) -> F64Array:
    """Go's ``math.Min``: -Inf wins over NaN, NaN over numbers, -0 over +0."""
    both_zero = (a == 0) & (b == 0)
    out = np.where(a < b, a, b)
    out = np.where(both_zero, np.where(np.signbit(a) | np.signbit(b), -0.0, 0.0), out)
    out = np.where(np.isnan(a) | np.isnan(b), np.nan, out)
    result: F64Array = np.where((a == -np.inf) | (b == -np.inf), -np.inf, out)
    return result


def _clamp(values: F64Array, low: F64Array, high: F64Array) -> F64Array:
    with np.errstate(all="ignore"):
        shape = np.broadcast_shapes(values.shape, low.shape)
        lo, hi = np.broadcast_to(low, shape), np.broadcast_to(high, shape)
        out = go_max(lo, go_min(hi, np.broadcast_to(values, shape)))
        # Where upstream returns no samples (max < min) the values are meaningless: NaN.
        result: F64Array = np.where(hi < lo, np.nan, out)
        return result


def clamp(values: F64Array, args: list[F64Array]) -> F64Array:
    """``max(min_, min(max_, v))`` with ``args = [min_, max_]``.

    Upstream returns an *empty vector* at a step where ``max_ < min_`` (false when either
    is NaN). Those steps get NaN here; the evaluator must mark them absent using
    ``ELEMENTWISE_EMPTY_STEPS["clamp"](args)``.
    """
    return _clamp(values, _column(args[0]), _column(args[1]))


def clamp_min(values: F64Array, args: list[F64Array]) -> F64Array:
    """``clamp(v, min_, +Inf)``."""
    return _clamp(values, _column(args[0]), np.full((1, 1), np.inf))


def clamp_max(values: F64Array, args: list[F64Array]) -> F64Array:
    """``clamp(v, -Inf, max_)``."""
    return _clamp(values, np.full((1, 1), -np.inf), _column(args[0]))


def clamp_empty_steps(args: list[F64Array]) -> BoolArray:
    """Steps (shape (steps,)) at which ``clamp(v, min_, max_)`` returns no samples."""
    out: BoolArray = np.asarray(args[1]) < np.asarray(args[0])
    return out


def round_(values: F64Array, args: list[F64Array]) -> F64Array:
    """Round to the nearest multiple of ``args[0]`` (default 1); ties round up."""
    with np.errstate(all="ignore"):
        to_nearest = _column(args[0]) if args else np.ones((1, 1))
        # Upstream divides by the inverse: it gives fewer floating point surprises.
        inverse = 1.0 / to_nearest
        out: F64Array = np.floor(values * inverse + 0.5) / inverse
        return out


def sgn(values: F64Array, args: list[F64Array]) -> F64Array:
    """-1 for negative, 1 for positive; zeros (signed) and NaN are returned as they are."""
    out: F64Array = np.where(values < 0, -1.0, np.where(values > 0, 1.0, values))
    return out


def _deg(values: F64Array) -> F64Array:
    out: F64Array = values * 180 / np.pi
    return out


def _rad(values: F64Array) -> F64Array:
    out: F64Array = values * np.pi / 180
    return out


def _date(field: Callable[[Civil], I64Array]) -> ElementwiseFn:
    def fn(values: F64Array, args: list[F64Array]) -> F64Array:
        civil = civil_utc(go_int64_seconds(np.asarray(values, dtype=np.float64)))
        out: F64Array = np.asarray(field(civil), dtype=np.float64)
        return out

    return fn


ELEMENTWISE_FUNCTIONS: dict[str, ElementwiseFn] = {
    "abs": _unary(np.abs),
    "acos": _unary(np.arccos),
    "acosh": _unary(np.arccosh),
    "asin": _unary(np.arcsin),
    "asinh": _unary(np.arcsinh),
    "atan": _unary(np.arctan),
    "atanh": _unary(np.arctanh),
    "ceil": _unary(np.ceil),
    "clamp": clamp,
    "clamp_max": clamp_max,
    "clamp_min": clamp_min,
    "cos": _unary(np.cos),
    "cosh": _unary(np.cosh),
    "day_of_month": _date(lambda c: c.day),
    "day_of_week": _date(lambda c: c.weekday),
    "day_of_year": _date(lambda c: c.yearday),
    "days_in_month": _date(lambda c: c.days_in_month()),
    "deg": _unary(_deg),
    "exp": _unary(np.exp),
    "floor": _unary(np.floor),
    "hour": _date(lambda c: c.hour),
    "ln": _unary(np.log),
    "log10": _unary(np.log10),
    "log2": _unary(np.log2),
    "minute": _date(lambda c: c.minute),
    "month": _date(lambda c: c.month),
    "rad": _unary(_rad),
    "round": round_,
    "sgn": sgn,
    "sin": _unary(np.sin),
    "sinh": _unary(np.sinh),
    "sqrt": _unary(np.sqrt),
    "tan": _unary(np.tan),
    "tanh": _unary(np.tanh),
    "year": _date(lambda c: c.year),
}

# Functions that return no samples at some steps regardless of the input: name -> the
# (steps,) mask of those steps, from the scalar arguments.
ELEMENTWISE_EMPTY_STEPS: dict[str, StepFilter] = {
    "clamp": clamp_empty_steps,
}
