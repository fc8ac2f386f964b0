"""The evaluator: walks the expression tree, evaluating every node at all steps at once.

``Evaluator.eval(expr, ts)`` evaluates ``expr`` at the evaluation times ``ts`` (ms, int64,
ascending) and returns a :mod:`kubeprom.promql.types` value whose step axis is ``ts``. An
instant query is ``ts`` of length one; a subquery evaluates its inner expression at its own
``ts``. The node kinds live in ``eval/``; this module holds the dispatch, the limits (samples,
timeout) and the annotations of one query. One Evaluator serves one query; not task-safe.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from kubeprom.errors import EvalError, QueryTimeout, TooManySamples
from kubeprom.errors import _line_col as line_col
from kubeprom.model.labels import Labels
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast
from kubeprom.promql.types import Annotations, Matrix, RangeWindows, Scalar, String, Value
from kubeprom.tsdb.api import Querier

DEFAULT_LOOKBACK_MS = 5 * 60_000
DEFAULT_MAX_SAMPLES = 50_000_000
# Prometheus' default subquery step is the global evaluation_interval; 1m is its default.
DEFAULT_SUBQUERY_STEP_MS = 60_000
DEFAULT_TIMEOUT_S = 120.0
# Prometheus refuses range queries whose result would have more points per series.
MAX_POINTS_PER_SERIES = 11_000

ENV = "query execution"


class Compat(StrEnum):
    """Prometheus 2.x behaviours that 3.x changed, for differential testing against 2.x only.

    No server or command offers them: the differential tester re-runs a query that
    disagrees with Prometheus 2.42 with one of these, and if the answers then agree, the
    difference is that documented change and no other.

    ``V2_WINDOWS``: range selectors, the lookback of instant selectors and subquery ranges
    are closed on the left (``[t - range, t]``; 3.0 made them left-open).
    ``V2_RATE``: ``rate``/``increase`` cap the extrapolation at the counter's zero point
    before the 110% threshold test (3.x tests the threshold first).
    ``V2_ATAN2_NAME``: ``atan2`` keeps the metric name (2.47 made it drop it, as the other
    arithmetic operators do).
    ``V2_STDDEV``: ``stddev``/``stdvar`` of a group whose first value is NaN or infinite
    start from 0 (3.0 starts them at NaN, Prometheus #14941).
    ``V2_FILTERED_MATCHES``: pairs a comparison filters out do not count towards the
    "multiple matches" errors of vector matching (3.x counts them: upstream
    ``operators.test``, "many-to-one vector matching errors even when ... filtered away").
    """

    V2_WINDOWS = "2.x-windows"
    V2_RATE = "2.x-rate"
    V2_ATAN2_NAME = "2.x-atan2-name"
    V2_STDDEV = "2.x-stddev"
    V2_FILTERED_MATCHES = "2.x-filtered-matches"


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine settings; the defaults are Prometheus' server defaults."""

    lookback_ms: int = DEFAULT_LOOKBACK_MS
    max_samples: int = DEFAULT_MAX_SAMPLES
    timeout_s: float = DEFAULT_TIMEOUT_S
    subquery_step_ms: int = DEFAULT_SUBQUERY_STEP_MS
    max_points_per_series: int = MAX_POINTS_PER_SERIES
    # Prometheus 3.x drops ``__name__`` right after the function or operator that changes
    # a value's meaning (two series then equal is an error there), unless the server runs
    # with --enable-feature=promql-delayed-name-removal, which promqltest always uses.
    delayed_name_removal: bool = False
    compat: frozenset[Compat] = frozenset()

    @property
    def closed_windows(self) -> bool:
        return Compat.V2_WINDOWS in self.compat


class Evaluator:
    """Evaluates one query's tree against a Querier.

    ``start_ms``/``end_ms`` are the query's own range (what ``@ start()`` / ``@ end()``
    mean, also inside subqueries). Raises :class:`EvalError`, :class:`TooManySamples` or
    :class:`QueryTimeout`; warnings and infos accumulate in ``annotations``.
    """

    def __init__(
        self,
        querier: Querier,
        options: EngineOptions,
        *,
        query: str,
        start_ms: int,
        end_ms: int,
        step_ms: int,
    ) -> None:
        self.querier = querier
        self.options = options
        self.query = query
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.step_ms = step_ms
        self.annotations = Annotations.new()
        self.samples = 0
        self.peak_samples = 0
        self._deadline = time.monotonic() + options.timeout_s

    # ---- limits and annotations ------------------------------------------------------------

    def check_timeout(self) -> None:
        if time.monotonic() > self._deadline:
            raise QueryTimeout(f"query timed out in {ENV}")

    def hold(self, n: int) -> None:
        """Account for ``n`` samples now held in memory (negative to release them)."""
        self.samples += n
        if self.samples > self.options.max_samples:
            raise TooManySamples(
                f"query processing would load too many samples into memory in {ENV}"
            )
        self.peak_samples = max(self.peak_samples, self.samples)

    def _where(self, pos: ast.Pos) -> str:
        line, col = line_col(self.query, pos.start)
        return f"({line}:{col})"

    def warn(self, text: str, pos: ast.Pos) -> None:
        self.annotations.warn(f"PromQL warning: {text} {self._where(pos)}")

    def info(self, text: str, pos: ast.Pos) -> None:
        self.annotations.info(f"PromQL info: {text} {self._where(pos)}")

    def merge(self, ann: Annotations, pos: ast.Pos) -> None:
        """Adopt annotations a function produced, adding prefix and position if missing."""
        for text in ann.warnings:
            if text.startswith("PromQL warning: "):
                self.annotations.warn(text)
            else:
                self.warn(text, pos)
        for text in ann.infos:
            if text.startswith("PromQL info: "):
                self.annotations.info(text)
            else:
                self.info(text, pos)

    # ---- time helpers ------------------------------------------------------------------------

    def at_time(self, at: ast.At) -> int:
        if at.kind is ast.AtKind.START:
            return self.start_ms
        if at.kind is ast.AtKind.END:
            return self.end_ms
        return at.t_ms

    def effective_times(self, ts: I64Array, at: ast.At | None, offset_ms: int) -> I64Array:
        """The times a selector reads at: ``@`` fixes them, ``offset`` shifts them back."""
        base = np.full(len(ts), self.at_time(at), dtype=np.int64) if at is not None else ts
        return base - np.int64(offset_ms)

    # ---- evaluation --------------------------------------------------------------------------

    def eval(self, e: ast.Expr, ts: I64Array) -> Value:
        v = self._eval(e, ts)
        if not self.options.delayed_name_removal and isinstance(v, Matrix) and v.drop_name.any():
            # Eager removal, step by step: equal label sets at one step are an error.
            v = merge_same_labels(cleanup_labels(v))
        return v

    def _eval(self, e: ast.Expr, ts: I64Array) -> Value:
        self.check_timeout()
        from kubeprom.promql.eval import aggregate, binary, calls, selectors, subquery

        if isinstance(e, ast.NumberLit):
            return Scalar(np.full(len(ts), e.value))
        if isinstance(e, ast.StringLit):
            return String(e.value)
        if isinstance(e, ast.Paren):
            return self.eval(e.expr, ts)
        if isinstance(e, ast.VectorSel):
            return selectors.vector(self, e, ts)
        if isinstance(e, ast.MatrixSel):
            return selectors.matrix(self, e, ts)
        if isinstance(e, ast.Subquery):
            return subquery.evaluate(self, e, ts)
        if isinstance(e, ast.Unary):
            return negate(self.eval(e.expr, ts))
        if isinstance(e, ast.Binary):
            return binary.evaluate(self, e, ts)
        if isinstance(e, ast.Aggregate):
            return aggregate.evaluate(self, e, ts)
        if isinstance(e, ast.Call):
            return calls.evaluate(self, e, ts)
        raise EvalError(f"unsupported expression {type(e).__name__}")

    def eval_matrix(self, e: ast.Expr, ts: I64Array) -> Matrix:
        v = self.eval(e, ts)
        if not isinstance(v, Matrix):
            raise EvalError(f"expected instant vector, got {type(v).__name__.lower()}")
        return v

    def eval_scalar(self, e: ast.Expr, ts: I64Array) -> Scalar:
        v = self.eval(e, ts)
        if not isinstance(v, Scalar):
            raise EvalError(f"expected scalar, got {type(v).__name__.lower()}")
        return v

    def eval_windows(self, e: ast.Expr, ts: I64Array) -> RangeWindows:
        v = self.eval(e, ts)
        if not isinstance(v, RangeWindows):
            raise EvalError(f"expected range vector, got {type(v).__name__.lower()}")
        return v


def negate(v: Value) -> Value:
    if isinstance(v, Scalar):
        return Scalar(-v.values)
    if isinstance(v, Matrix):
        return Matrix(v.labels, -v.values, v.present, np.ones(len(v.labels), dtype=bool))
    raise EvalError("unary expression only allowed on expressions of type scalar or vector")


METADATA_LABELS = ("__name__", "__type__", "__unit__")


def drop_metadata(labels: Labels) -> Labels:
    """``labels`` without the name and the type/unit metadata labels (Prometheus'
    ``DropReserved(schema.IsMetadataLabel)``)."""
    flat = labels.flat
    if not any(n in flat[0::2] for n in METADATA_LABELS):
        return labels
    return labels.without(*METADATA_LABELS)


def cleanup(m: Matrix) -> Matrix:
    """Apply the delayed ``__name__`` removal and refuse duplicate label sets (the end of
    every query, Prometheus' ``cleanupMetricLabels``)."""
    if not m.drop_name.any():
        labels = m.labels
    else:
        labels = [
            drop_metadata(lab) if d else lab
            for lab, d in zip(m.labels, m.drop_name.tolist(), strict=True)
        ]
    if len(set(labels)) != len(labels):
        raise EvalError("vector cannot contain metrics with the same labelset")
    return Matrix(labels, m.values, m.present, np.zeros(len(labels), dtype=bool))


def cleanup_labels(m: Matrix) -> Matrix:
    """The delayed name removal alone, without the duplicate check (callers merge)."""
    labels = [
        drop_metadata(lab) if d else lab
        for lab, d in zip(m.labels, m.drop_name.tolist(), strict=True)
    ]
    return Matrix(labels, m.values, m.present, np.zeros(len(labels), dtype=bool))


def merge_same_labels(m: Matrix) -> Matrix:
    """Fold rows with equal label sets into one row; they must not overlap in time.

    Prometheus builds a node's output series by label hash, step by step, so rows that a
    node produces with the same labels at different steps are one series, and two at the
    same step are an error.
    """
    index: dict[Labels, int] = {}
    target = np.empty(len(m.labels), dtype=np.int64)
    for i, lab in enumerate(m.labels):
        target[i] = index.setdefault(lab, len(index))
    if len(index) == len(m.labels):
        return m
    counts = np.zeros((len(index), m.values.shape[1]), dtype=np.int64)
    np.add.at(counts, target, m.present.astype(np.int64))
    if (counts > 1).any():
        raise EvalError("vector cannot contain metrics with the same labelset")
    values = np.full((len(index), m.values.shape[1]), np.nan)
    present = np.zeros_like(counts, dtype=bool)
    rows, cols = np.nonzero(m.present)
    values[target[rows], cols] = m.values[rows, cols]
    present[target[rows], cols] = True
    drop = np.zeros(len(index), dtype=bool)
    np.logical_or.at(drop, target, m.drop_name)
    return Matrix(list(index), values, present, drop)


def compact(m: Matrix) -> Matrix:
    """Drop rows that have no point at any step."""
    keep = m.present.any(axis=1)
    if keep.all():
        return m
    idx = np.nonzero(keep)[0]
    return Matrix([m.labels[i] for i in idx], m.values[idx], m.present[idx], m.drop_name[idx])
