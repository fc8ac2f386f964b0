"""The one query seam that the HTTP API, rules, ``top`` and the HPA share.

:class:`QueryAPI` is the protocol (Prometheus' ``QueryFunc``); :class:`LocalQueryAPI` runs
the engine over a local Querier. Results are :class:`QueryResult`: the result type, the
series in CSR layout (labels + numpy arrays) and the annotations. Series order is
Prometheus': range queries and range-vector results sorted by labels, instant vectors in
the order the expression produces them (``sort()`` and ``topk()`` orders are kept).

Errors: :class:`~kubeprom.errors.ParseError` (bad query), :class:`EvalError` (type errors,
bad parameters, evaluation failures), :class:`TooManySamples`, :class:`QueryTimeout`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np

from kubeprom.clock import Clock, RealClock
from kubeprom.errors import EvalError
from kubeprom.model.csr import gather_ranges, offsets_from_counts
from kubeprom.model.labels import EMPTY, Labels
from kubeprom.model.samples import F64Array, I64Array
from kubeprom.promql import ast
from kubeprom.promql.budget import SampleBudget
from kubeprom.promql.engine import QueryEvaluator

# Re-exported for rule groups, which reach the engine through this module only.
from kubeprom.promql.memo import QueryMemo as QueryMemo
from kubeprom.promql.memo import Reuse as Reuse
from kubeprom.promql.memo import Shapes as Shapes
from kubeprom.promql.options import EngineOptions
from kubeprom.promql.parse import parse
from kubeprom.promql.steps import cleanup, cleanup_labels, merge_same_labels
from kubeprom.promql.types import InstantSteps, RangeWindows, Scalar, String, Value
from kubeprom.tsdb.api import Querier


class ResultType(StrEnum):
    VECTOR = "vector"
    MATRIX = "matrix"
    SCALAR = "scalar"
    STRING = "string"


def _empty_i64() -> I64Array:
    return np.empty(0, dtype=np.int64)


def _empty_f64() -> F64Array:
    return np.empty(0, dtype=np.float64)


def _zero_offsets() -> I64Array:
    return np.zeros(1, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A query's answer. Series ``i`` owns ``t[offsets[i]:offsets[i+1]]`` (ms) and ``v``.

    A vector has one point per series (at the evaluation time); a scalar is one series with
    no labels and one point; a string has no series and its text in ``string``. Warnings and
    infos are rendered as Prometheus' HTTP API shows them (``PromQL warning: ... (1:6)``).
    """

    result_type: ResultType
    labels: list[Labels] = field(default_factory=list)
    t: I64Array = field(default_factory=_empty_i64)
    v: F64Array = field(default_factory=_empty_f64)
    offsets: I64Array = field(default_factory=_zero_offsets)
    string: str = ""
    warnings: tuple[str, ...] = ()
    infos: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.labels)

    def series(self) -> Iterator[tuple[Labels, I64Array, F64Array]]:
        o = self.offsets
        for i, lab in enumerate(self.labels):
            a, b = int(o[i]), int(o[i + 1])
            yield lab, self.t[a:b], self.v[a:b]

    @property
    def scalar(self) -> float:
        """The value of a scalar result (or of a one-point vector)."""
        if len(self.v) != 1:
            raise ValueError(f"result has {len(self.v)} points, not one")
        return float(self.v[0])


class QueryAPI(Protocol):
    """Runs PromQL. Times are ms since the epoch; ``step_ms`` > 0."""

    def instant(self, expr: str, t_ms: int) -> QueryResult: ...

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult: ...


def _from_steps(
    m: InstantSteps, ts: I64Array, *, sort: bool
) -> tuple[list[Labels], I64Array, F64Array, I64Array]:
    if sort and len(m.labels) > 1:
        order = sorted(range(len(m.labels)), key=lambda i: m.labels[i])
        idx = np.asarray(order, dtype=np.int64)
        m = InstantSteps(
            [m.labels[i] for i in order], m.values[idx], m.present[idx], m.drop_name[idx]
        )
    rows, cols = np.nonzero(m.present)
    counts = np.bincount(rows, minlength=len(m.labels)).astype(np.int64)
    offsets = np.zeros(len(m.labels) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return list(m.labels), ts[cols], m.values[rows, cols], offsets


def _from_windows(w: RangeWindows) -> tuple[list[Labels], I64Array, F64Array, I64Array]:
    lo, hi = w.lo[:, 0], w.hi[:, 0]
    keep = np.nonzero(hi > lo)[0]
    keep = np.asarray(sorted(keep.tolist(), key=lambda i: w.labels[i]), dtype=np.int64)
    starts, lengths = lo[keep], (hi - lo)[keep]
    idx = gather_ranges(starts, lengths)
    return [w.labels[i] for i in keep], w.t[idx], w.v[idx], offsets_from_counts(lengths)


class LocalQueryAPI:
    """:class:`QueryAPI` over a local store: ``querier_factory()`` is called per query.

    ``clock`` measures the query timeout (``options.timeout_s``); the real clock by default.
    Queries stop with :class:`~kubeprom.errors.QueryCanceled` at their next check once
    ``cancel`` is set (see :meth:`cancellable`). With a ``budget``, the samples the queries
    in flight hold together are bounded too (:class:`~kubeprom.promql.budget.SampleBudget`).
    """

    def __init__(
        self,
        querier_factory: Callable[[], Querier],
        options: EngineOptions | None = None,
        *,
        clock: Clock | None = None,
        cancel: threading.Event | None = None,
        budget: SampleBudget | None = None,
    ) -> None:
        self._querier_factory = querier_factory
        self.options = options or EngineOptions()
        self.clock: Clock = clock or RealClock()
        self._cancel = cancel
        self.budget = budget
        self._memo: QueryMemo | None = None
        self._reuse: Reuse | None = None

    def cancellable(self, cancel: threading.Event) -> LocalQueryAPI:
        """The same API whose queries stop once ``cancel`` is set (from any thread)."""
        return LocalQueryAPI(
            self._querier_factory, self.options, clock=self.clock, cancel=cancel, budget=self.budget
        )

    def sharing(self, memo: QueryMemo) -> LocalQueryAPI:
        """The same API whose queries share selections and sub-expression values through
        ``memo`` (one rule group's iteration; see :mod:`kubeprom.promql.memo`)."""
        factory = self._querier_factory
        api = LocalQueryAPI(
            lambda: memo.view(factory()),
            self.options,
            clock=self.clock,
            cancel=self._cancel,
            budget=self.budget,
        )
        api._memo, api._reuse = memo, memo.shapes.reuse
        return api

    def reusing(self, reuse: Reuse) -> LocalQueryAPI:
        """The same API whose queries keep their label work in ``reuse`` (a rule group's,
        across its iterations)."""
        api = LocalQueryAPI(
            self._querier_factory,
            self.options,
            clock=self.clock,
            cancel=self._cancel,
            budget=self.budget,
        )
        api._reuse = reuse
        return api

    def _evaluator(self, query: str, start: int, end: int, step: int) -> QueryEvaluator:
        return QueryEvaluator(
            self._querier_factory(),
            self.options,
            query=query,
            start_ms=start,
            end_ms=end,
            step_ms=step,
            clock=self.clock,
            cancel=self._cancel,
            budget=self.budget,
            memo=self._memo,
            reuse=self._reuse,
        )

    def instant(self, expr: str, t_ms: int) -> QueryResult:
        return self.instant_tree(parse(expr), expr, t_ms)

    def instant_tree(self, tree: ast.Expr, query: str, t_ms: int) -> QueryResult:
        """An instant query of an already parsed ``tree``; ``query`` is its text (for
        annotation positions)."""
        ev = self._evaluator(query, t_ms, t_ms, 0)
        ts = np.array([t_ms], dtype=np.int64)
        value = ev.evaluate(tree, ts)
        return self._result(ev, value, ts, range_query=False)

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> QueryResult:
        return self.range_tree(parse(expr), expr, start_ms, end_ms, step_ms)

    def range_tree(
        self, tree: ast.Expr, query: str, start_ms: int, end_ms: int, step_ms: int
    ) -> QueryResult:
        """A range query of an already parsed ``tree``."""
        if step_ms <= 0:
            raise EvalError(
                "zero or negative query resolution step widths are not accepted. "
                "Try a positive integer"
            )
        if end_ms < start_ms:
            raise EvalError("end timestamp must not be before start time")
        if (end_ms - start_ms) // step_ms > self.options.max_points_per_series:
            raise EvalError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        if tree.type not in (ast.ValueType.VECTOR, ast.ValueType.SCALAR):
            raise EvalError(
                f'invalid expression type "{tree.type}" for range query, '
                "must be Scalar or instant Vector"
            )
        ev = self._evaluator(query, start_ms, end_ms, step_ms)
        ts = np.arange(start_ms, end_ms + 1, step_ms, dtype=np.int64)
        value = ev.evaluate(tree, ts)
        return self._result(ev, value, ts, range_query=True)

    def _result(
        self, ev: QueryEvaluator, value: Value, ts: I64Array, *, range_query: bool
    ) -> QueryResult:
        ann = ev.annotations
        extra = {"warnings": tuple(ann.warnings), "infos": tuple(ann.infos)}
        if isinstance(value, String):
            return QueryResult(ResultType.STRING, string=value.value, **extra)  # type: ignore[arg-type]
        if isinstance(value, Scalar):
            m = InstantSteps(
                [EMPTY],
                value.values[None, :],
                np.ones((1, len(ts)), dtype=bool),
                np.zeros(1, dtype=bool),
            )
            labels, t, v, off = _from_steps(m, ts, sort=False)
            kind = ResultType.MATRIX if range_query else ResultType.SCALAR
            return QueryResult(kind, labels, t, v, off, **extra)  # type: ignore[arg-type]
        if isinstance(value, RangeWindows):
            labels, t, v, off = _from_windows(value)
            return QueryResult(ResultType.MATRIX, labels, t, v, off, **extra)  # type: ignore[arg-type]
        if range_query:
            m = merge_same_labels(cleanup_labels(value))
            labels, t, v, off = _from_steps(m, ts, sort=True)
            return QueryResult(ResultType.MATRIX, labels, t, v, off, **extra)  # type: ignore[arg-type]
        m = cleanup(value)
        labels, t, v, off = _from_steps(m, ts, sort=False)
        return QueryResult(ResultType.VECTOR, labels, t, v, off, **extra)  # type: ignore[arg-type]
