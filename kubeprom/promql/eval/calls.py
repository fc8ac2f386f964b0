"""Function calls: the functions that need the evaluator (time, labels, sorting, absent,
histogram_quantile grouping) live here; the range-vector and per-sample functions come from
the registry in ``kubeprom.promql.functions``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from kubeprom.errors import EvalError
from kubeprom.model.labels import EMPTY
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast, functions
from kubeprom.promql.eval import histograms, info, labelfuncs, selectors, subquery_fold
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.functions.elementwise import go_max, go_min
from kubeprom.promql.options import Compat
from kubeprom.promql.steps import compact
from kubeprom.promql.types import InstantSteps, RangeWindows, Scalar, Value

DATE_FUNCTIONS = frozenset(
    {
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
    }
)
# Functions of native-histogram samples (and of start timestamps, which the store does not
# keep): over float samples they have nothing to return, as in Prometheus.
NO_FLOAT_RESULT = frozenset(
    {
        "histogram_avg",
        "histogram_count",
        "histogram_stddev",
        "histogram_stdvar",
        "histogram_sum",
        "start_timestamp",
    }
)
# Range functions that keep the metric name: they act like an offset.
KEEPS_NAME = frozenset({"last_over_time", "first_over_time"})
_COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")


def _string_arg(e: ast.Expr) -> str:
    e = ast.unwrap_parens(e)
    if not isinstance(e, ast.StringLit):
        raise EvalError("expected a string literal argument")
    return e.value


def _one_row(values: np.ndarray) -> InstantSteps:
    n = len(values)
    return InstantSteps(
        [EMPTY], values[None, :], np.ones((1, n), dtype=bool), np.zeros(1, dtype=bool)
    )


def evaluate(ev: Evaluator, e: ast.Call, ts: I64Array) -> Value:
    name = e.func
    args = e.args
    n = len(ts)
    if name == "time":
        return Scalar(ts / 1000.0)
    if name == "pi":
        return Scalar(np.full(n, math.pi))
    if name in ("start", "end", "range", "step"):
        seconds = {
            "start": ev.start_ms / 1000.0,
            "end": ev.end_ms / 1000.0,
            "range": (ev.end_ms - ev.start_ms) / 1000.0,
            "step": ev.step_ms / 1000.0,
        }[name]
        return Scalar(np.full(n, seconds))
    if name == "vector":
        return _one_row(ev.eval_scalar(args[0], ts).values)
    if name == "scalar":
        m = ev.eval_vector(args[0], ts)
        count = m.present.sum(axis=0)
        total = np.where(m.present, m.values, 0.0).sum(axis=0)
        return Scalar(np.where(count == 1, total, np.nan))
    if name == "timestamp":
        return timestamp(ev, args[0], ts)
    if name == "absent":
        return labelfuncs.absent(ev.eval_vector(args[0], ts), args[0], n)
    if name == "absent_over_time":
        return labelfuncs.absent_over_time(ev.eval_windows(args[0], ts), args[0])
    if name == "label_replace":
        strs = [_string_arg(a) for a in args[1:]]
        dst, repl, src, regex = strs
        if not labelfuncs.valid_label_name(dst):
            raise EvalError(f"invalid destination label name in label_replace(): {dst}")
        return labelfuncs.label_replace(ev.eval_vector(args[0], ts), dst, repl, src, regex)
    if name == "label_join":
        strs = [_string_arg(a) for a in args[1:]]
        return labelfuncs.label_join(ev.eval_vector(args[0], ts), strs[0], strs[1], strs[2:])
    if name in ("sort", "sort_desc", "sort_by_label", "sort_by_label_desc"):
        return sort(ev, e, ts)
    if name == "histogram_quantile":
        return histograms.histogram_quantile(ev, e, ts)
    if name == "histogram_fraction":
        return histograms.histogram_fraction(ev, e, ts)
    if name == "histogram_quantiles":
        return histograms.histogram_quantiles(ev, e, ts)
    if name == "info":
        return info.evaluate(ev, e, ts)
    if name in ("min_of", "max_of"):
        x = ev.eval_scalar(args[0], ts).values
        y = ev.eval_scalar(args[1], ts).values
        return Scalar(go_min(x, y) if name == "min_of" else go_max(x, y))
    if name in NO_FLOAT_RESULT:
        for arg_expr in args:
            ev.eval(arg_expr, ts)
        return InstantSteps.empty(n)
    if name in DATE_FUNCTIONS and not args:
        arg: InstantSteps = _one_row(np.trunc(ts / 1000.0).astype(np.float64))
        return _elementwise(ev, e, arg, [], ts, keep_flags=True)
    if name in functions.range_functions():
        return range_call(ev, e, ts)
    if name in functions.elementwise_functions():
        m = ev.eval_vector(args[0], ts)
        extra: list[Value] = [ev.eval(a, ts) for a in args[1:]]
        return _elementwise(ev, e, m, extra, ts)
    raise EvalError(f"function {name!r} is not implemented")


def timestamp(ev: Evaluator, arg: ast.Expr, ts: I64Array) -> InstantSteps:
    inner = ast.unwrap_parens(arg)
    if isinstance(inner, ast.VectorSel):
        m, times = selectors.vector_with_times(ev, inner, ts)
        values = np.where(m.present, times / 1000.0, np.nan)
    else:
        m = ev.eval_vector(arg, ts)
        values = np.where(m.present, (ts / 1000.0)[None, :], np.nan)
    return InstantSteps(m.labels, values, m.present, np.ones(len(m.labels), dtype=bool))


def sort(ev: Evaluator, e: ast.Call, ts: I64Array) -> InstantSteps:
    m = ev.eval_vector(e.args[0], ts)
    if ev.start_ms != ev.end_ms:
        ev.warn(
            "sort is ineffective for range queries since results are always ordered by labels",
            e.pos,
        )
        return m
    if len(ts) != 1:
        return m
    if e.func in ("sort", "sort_desc"):
        return labelfuncs.sort_by_value(m, descending=e.func == "sort_desc")
    names = [_string_arg(a) for a in e.args[1:]]
    return labelfuncs.sort_by_label(m, names, descending=e.func == "sort_by_label_desc")


def range_call(ev: Evaluator, e: ast.Call, ts: I64Array) -> InstantSteps:
    """A function over a range vector: the windows, then the registry's implementation."""
    idx = next((i for i, a in enumerate(e.args) if a.type is ast.ValueType.MATRIX), 0)
    arg = ast.unwrap_parens(e.args[idx]) if e.args else None
    if e.func in subquery_fold.FOLDED and isinstance(arg, ast.Subquery):
        folded = subquery_fold.evaluate(ev, e.func, arg, ts)
        if folded is not None:  # a long grid, reduced slice by slice
            return compact(folded)
    windows = ev.eval_windows(e.args[idx], ts)
    others: list[Value] = [ev.eval(a, ts) for i, a in enumerate(e.args) if i != idx]
    if not windows.labels:
        # Upstream calls range functions series by series: nothing to call, nothing to say.
        return InstantSteps.empty(len(ts))
    v2_rate = Compat.V2_RATE in ev.options.compat
    out, ann = functions.call_range(e.func, windows, others, ts, v2_rate=v2_rate)
    ev.merge(ann, e.args[idx].pos if e.args else e.pos)
    out = compact(out)
    keep_name = e.func in KEEPS_NAME
    out = InstantSteps(out.labels, out.values, out.present, np.full(len(out.labels), not keep_name))
    if e.func in ("rate", "increase"):
        _non_counter_info(ev, e, windows, out)
    return out


def _non_counter_info(ev: Evaluator, e: ast.Call, w: RangeWindows, out: InstantSteps) -> None:
    if not out.labels:
        return
    inner = ast.unwrap_parens(e.args[0])
    if isinstance(inner, ast.MatrixSel) and inner.selector.name:
        names: Iterable[str] = (inner.selector.name,)  # every series has the selector's name
    else:
        names = dict.fromkeys(lab.name for lab in out.labels)
    for name in names:
        if name and not name.endswith(_COUNTER_SUFFIXES):
            ev.info(
                "metric might not be a counter, name does not end in "
                f'_total/_sum/_count/_bucket: "{name}"',
                e.args[0].pos,
            )


def _elementwise(
    ev: Evaluator,
    e: ast.Call,
    m: InstantSteps,
    extra: list[Value],
    ts: I64Array,
    *,
    keep_flags: bool = False,
) -> InstantSteps:
    out, ann = functions.call_elementwise(e.func, m, extra, ts)
    ev.merge(ann, e.args[0].pos if e.args else e.pos)
    drop = out.drop_name if keep_flags else np.ones(len(out.labels), dtype=bool)
    if keep_flags:
        drop = np.zeros(len(out.labels), dtype=bool)
    return compact(InstantSteps(out.labels, out.values, out.present, drop))
