"""Rules evaluated over a whole grid of evaluation times at once.

A group evaluated at ``start + k*step`` (k = 0..n-1) gives, per rule, what one range query
over the same times gives, when the expression reads nothing written after its evaluation
time (see :mod:`kubeprom.rules.exprinfo`). This module turns such a range result into what
the group would have written: the recorded series with the rule's name and labels, and
staleness markers at the first evaluation a series is missing from (``Group.Eval``), all with
numpy over the whole grid. Results are kept in coordinate form: parallel arrays of row (the
series), step index and value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from kubeprom.errors import KubepromError
from kubeprom.model.labels import Labels
from kubeprom.model.samples import STALE_NAN, F64Array, I64Array
from kubeprom.promql.api import QueryResult, ResultType
from kubeprom.rules.recording import RecordingRule


class RangeUnsupported(KubepromError):
    """A whole-range evaluation cannot give what step-by-step evaluation gives; the message
    says why (the caller evaluates step by step instead)."""


@dataclass(frozen=True, slots=True)
class Grid:
    """Evaluation times ``start_ms + k * step_ms`` for k in ``0..n-1`` (ms)."""

    start_ms: int
    step_ms: int
    n: int

    @property
    def end_ms(self) -> int:
        return self.start_ms + (self.n - 1) * self.step_ms

    def times(self) -> I64Array:
        return self.start_ms + self.step_ms * np.arange(self.n, dtype=np.int64)

    def shifted(self, by_ms: int) -> Grid:
        return Grid(self.start_ms + by_ms, self.step_ms, self.n)


@dataclass(frozen=True, slots=True)
class Points:
    """Values at grid steps: ``labels[rows[i]]`` has ``values[i]`` at step ``steps[i]``."""

    labels: list[Labels]
    rows: I64Array
    steps: I64Array
    values: F64Array

    def __len__(self) -> int:
        return len(self.rows)

    def counts_per_step(self, n: int) -> I64Array:
        return np.bincount(self.steps, minlength=n).astype(np.int64)


def points(res: QueryResult, grid: Grid) -> Points:
    """A range query's result over ``grid`` (a scalar is one series without labels); a string
    result cannot be a rule's."""
    if res.result_type not in (ResultType.MATRIX, ResultType.VECTOR, ResultType.SCALAR):
        raise RangeUnsupported("rule result is not a vector or scalar")
    counts = np.diff(res.offsets)
    rows = np.repeat(np.arange(len(res.labels), dtype=np.int64), counts)
    steps = (res.t - grid.start_ms) // grid.step_ms
    return Points(list(res.labels), rows, steps.astype(np.int64), np.asarray(res.v, np.float64))


def recorded(rule: RecordingRule, pts: Points, limit: int) -> Points:
    """What a recording rule writes: each row relabeled by the rule. Rows that become one
    series merge when they never share a step; sharing one is the per-step duplicate-labels
    error, and more series than ``limit`` at a step the limit error (both RangeUnsupported,
    so the caller's step-by-step evaluation reports them where they happen)."""
    out_labels: list[Labels] = []
    index: dict[Labels, int] = {}
    remap = np.empty(len(pts.labels), dtype=np.int64)
    for i, lab in enumerate(pts.labels):
        o = rule.output_labels(lab)
        j = index.get(o)
        if j is None:
            j = index[o] = len(out_labels)
            out_labels.append(o)
        remap[i] = j
    rows = remap[pts.rows] if len(pts) else pts.rows
    if len(out_labels) < len(pts.labels) and len(pts):
        key = rows * (int(pts.steps.max()) + 1) + pts.steps
        if np.unique(key).size < key.size:
            raise RangeUnsupported("duplicate label sets after applying rule labels")
    if limit > 0 and len(pts) and int(np.bincount(pts.steps).max()) > limit:
        raise RangeUnsupported("series limit exceeded")
    return Points(out_labels, rows, pts.steps, pts.values)


def with_staleness(
    pts: Points, grid: Grid, stop: int | None = None
) -> dict[Labels, tuple[I64Array, F64Array]]:
    """Each row's samples at the grid's times, plus a staleness marker at the first step
    after each run of steps it was present at, if that step is before ``stop`` (default:
    the grid's end; a chunk of a grid stops at its own end), sorted by time."""
    stop = grid.n if stop is None else stop
    rows, steps, values = pts.rows, pts.steps, pts.values
    if len(rows) > 1 and not _ascending(rows, steps):
        order = np.lexsort((steps, rows))
        rows, steps, values = rows[order], steps[order], values[order]
    follows = np.zeros(len(rows), dtype=bool)
    if len(rows) > 1:
        follows[:-1] = (rows[1:] == rows[:-1]) & (steps[1:] == steps[:-1] + 1)
    stale = ~follows & (steps + 1 < stop)
    # Each marker goes right after the point it follows: the order by (row, step) holds.
    at = np.arange(len(rows)) + np.cumsum(stale) - stale
    total = len(rows) + int(stale.sum())
    out_rows = np.empty(total, dtype=np.int64)
    out_steps = np.empty(total, dtype=np.int64)
    out_values = np.empty(total, dtype=np.float64)
    out_rows[at], out_steps[at], out_values[at] = rows, steps, values
    marker = at[stale] + 1
    out_rows[marker], out_steps[marker] = rows[stale], steps[stale] + 1
    out_values[marker] = STALE_NAN
    rows, steps, values = out_rows, out_steps, out_values
    t = grid.start_ms + steps * grid.step_ms
    bounds = np.searchsorted(rows, np.arange(len(pts.labels) + 1))
    out: dict[Labels, tuple[I64Array, F64Array]] = {}
    for i, lab in enumerate(pts.labels):
        a, b = int(bounds[i]), int(bounds[i + 1])
        if b > a:
            out[lab] = (t[a:b], values[a:b])
    return out


def _ascending(rows: I64Array, steps: I64Array) -> bool:
    """Whether points are ordered by row, then step (as a range result gives them)."""
    same = rows[1:] == rows[:-1]
    return bool(((rows[1:] > rows[:-1]) | (same & (steps[1:] > steps[:-1]))).all())


def step_vectors(pts: Points, n: int) -> Mapping[int, tuple[list[Labels], F64Array]]:
    """The result at each step that has one: the labels and values, in row order."""
    order = np.lexsort((pts.rows, pts.steps))
    steps, rows, values = pts.steps[order], pts.rows[order], pts.values[order]
    bounds = np.searchsorted(steps, np.arange(n + 1))
    nonempty = np.nonzero(np.diff(bounds))[0]
    out: dict[int, tuple[list[Labels], F64Array]] = {}
    labels = pts.labels
    for k in nonempty.tolist():
        a, b = int(bounds[k]), int(bounds[k + 1])
        out[k] = ([labels[r] for r in rows[a:b].tolist()], values[a:b])
    return out
