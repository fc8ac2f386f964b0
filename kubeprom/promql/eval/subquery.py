"""Subqueries ``expr[range:step]``: evaluate ``expr`` on a step-aligned inner grid covering
every outer window at once, then window the result like a range selector."""

from __future__ import annotations

import numpy as np

from kubeprom.model.labels import EMPTY
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast
from kubeprom.promql.eval.evaluator import Evaluator
from kubeprom.promql.eval.selectors import windows_over
from kubeprom.promql.steps import cleanup_labels, merge_same_labels
from kubeprom.promql.types import InstantSteps, RangeWindows, Scalar
from kubeprom.tsdb.api import SeriesSet


def inner_times(first_after: int, last: int, step_ms: int) -> I64Array:
    """Multiples of ``step_ms`` (absolute time) in ``(first_after, last]``."""
    start = (first_after // step_ms) * step_ms
    if start <= first_after:
        start += step_ms
    if start > last:
        return np.empty(0, dtype=np.int64)
    return np.arange(start, last + 1, step_ms, dtype=np.int64)


def evaluate(ev: Evaluator, e: ast.Subquery, ts: I64Array) -> RangeWindows:
    eff = ev.effective_times(ts, e.at, e.offset_ms)
    step = e.step_ms or ev.options.subquery_step_ms
    if len(eff) == 0:
        return windows_over(ev, SeriesSet.empty(), eff, e.range_ms)
    closed = int(ev.options.closed_windows)
    grid = inner_times(int(eff.min()) - e.range_ms - closed, int(eff.max()), step)
    if len(grid) == 0:
        return windows_over(ev, SeriesSet.empty(), eff, e.range_ms)
    value = ev.eval(e.expr, grid)
    if isinstance(value, Scalar):
        value = InstantSteps(
            [EMPTY],
            value.values[None, :],
            np.ones((1, len(grid)), dtype=bool),
            np.zeros(1, dtype=bool),
        )
    if not isinstance(value, InstantSteps):
        raise TypeError("subquery of a non-vector expression")
    # Prometheus drops flagged names when it turns the inner result into series.
    if value.drop_name.any():
        value = merge_same_labels(cleanup_labels(value))
    rows, cols = np.nonzero(value.present)
    counts = np.bincount(rows, minlength=len(value.labels)).astype(np.int64)
    offsets = np.zeros(len(value.labels) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    ss = SeriesSet(list(value.labels), grid[cols], value.values[rows, cols], offsets)
    return windows_over(ev, ss, eff, e.range_ms)
