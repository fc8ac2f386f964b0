"""The function registry: which implementation answers each PromQL function name.

The range-vector functions (``range_funcs.RANGE_FUNCTIONS``), the per-sample functions
(``elementwise.ELEMENTWISE_FUNCTIONS``) and the classic-bucket maths (``histogram``) are
imported from their modules; a module that is missing (while it is being written) leaves
its table empty instead of breaking the import of the engine. The evaluator calls
:func:`call_range` and :func:`call_elementwise`, which adapt these array-level contracts to
the evaluator's :class:`~kubeprom.promql.types.Matrix`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql.types import Annotations, Matrix, RangeWindows, Scalar, Value


def _optional(module: str, attr: str) -> Any:
    """``module.attr``, or ``None`` when that module of this package does not exist yet."""
    name = f"{__name__}.{module}"
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        return None
    return getattr(mod, attr)


RANGE_FUNCTIONS: dict[str, Callable[..., tuple[F64Array, Any]]] = (
    _optional("range_funcs", "RANGE_FUNCTIONS") or {}
)
V2_RANGE_FUNCTIONS: dict[str, Callable[..., tuple[F64Array, Any]]] = (
    _optional("range_funcs", "V2_RANGE_FUNCTIONS") or {}
)
ELEMENTWISE_FUNCTIONS: dict[str, Callable[..., F64Array]] = (
    _optional("elementwise", "ELEMENTWISE_FUNCTIONS") or {}
)
ELEMENTWISE_EMPTY_STEPS: dict[str, Callable[..., Any]] = (
    _optional("elementwise", "ELEMENTWISE_EMPTY_STEPS") or {}
)
bucket_quantile: Callable[..., tuple[F64Array, Any]] | None = _optional(
    "histogram", "bucket_quantile"
)
bucket_fraction: Callable[..., tuple[F64Array, Any]] | None = _optional(
    "histogram", "bucket_fraction"
)


def range_functions() -> frozenset[str]:
    return frozenset(RANGE_FUNCTIONS)


def elementwise_functions() -> frozenset[str]:
    return frozenset(ELEMENTWISE_FUNCTIONS)


def _scalars(args: Sequence[Value]) -> list[F64Array]:
    out = []
    for a in args:
        if not isinstance(a, Scalar):
            raise EvalError(f"expected a scalar argument, got {type(a).__name__.lower()}")
        out.append(a.values)
    return out


def call_range(
    name: str, w: RangeWindows, args: Sequence[Value], ts: I64Array, *, v2_rate: bool = False
) -> tuple[Matrix, Annotations]:
    """Run a range-vector function; ``ts`` are the query's evaluation times (ms).

    ``v2_rate``: Prometheus 2.x's ``rate``/``increase`` (differential testing only)."""
    fn = (V2_RANGE_FUNCTIONS.get(name) if v2_rate else None) or RANGE_FUNCTIONS.get(name)
    if fn is None:
        raise EvalError(f"function {name!r} is not implemented")
    notes = Annotations.new()
    scalars = _scalars(args)
    if name == "predict_linear":
        # predict_linear regresses relative to the evaluation time, not the window end.
        scalars.append(ts.astype(np.float64))
    values, present = fn(w, scalars, notes)
    present = np.asarray(present, dtype=bool)
    values = np.where(present, values, np.nan)
    drop = np.ones(len(w.labels), dtype=bool)
    return Matrix(list(w.labels), values, present, drop), notes


def call_elementwise(
    name: str, m: Matrix, args: Sequence[Value], ts: I64Array
) -> tuple[Matrix, Annotations]:
    fn = ELEMENTWISE_FUNCTIONS.get(name)
    if fn is None:
        raise EvalError(f"function {name!r} is not implemented")
    scalars = _scalars(args)
    values = np.asarray(fn(m.values, scalars), dtype=np.float64)
    present = m.present
    empty = ELEMENTWISE_EMPTY_STEPS.get(name)
    if empty is not None:
        present = present & ~np.asarray(empty(scalars), dtype=bool)[None, :]
    values = np.where(present, values, np.nan)
    return Matrix(m.labels, values, present, m.drop_name), Annotations.new()


__all__ = [
    "ELEMENTWISE_EMPTY_STEPS",
    "ELEMENTWISE_FUNCTIONS",
    "RANGE_FUNCTIONS",
    "V2_RANGE_FUNCTIONS",
    "bucket_fraction",
    "bucket_quantile",
    "call_elementwise",
    "call_range",
    "elementwise_functions",
    "range_functions",
]
