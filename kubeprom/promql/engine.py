"""The evaluator: walks the expression tree, evaluating every node at all steps at once.

``QueryEvaluator.eval(expr, ts)`` evaluates ``expr`` at the evaluation times ``ts`` (ms, int64,
ascending) and returns a :mod:`kubeprom.promql.types` value whose step axis is ``ts``. An
instant query is ``ts`` of length one; a subquery evaluates its inner expression at its own
``ts``. The node kinds live in ``eval/``, which see this class only through the
:class:`~kubeprom.promql.eval.evaluator.Evaluator` protocol; this module holds the dispatch,
the limits (samples, timeout) and the annotations of one query. One QueryEvaluator serves one
query; not task-safe.
"""

from __future__ import annotations

import threading

import numpy as np

from kubeprom.clock import Clock
from kubeprom.errors import EvalError, QueryCanceled, QueryTimeout, TooManySamples
from kubeprom.errors import _line_col as line_col
from kubeprom.model.samples import I64Array
from kubeprom.promql import ast
from kubeprom.promql.budget import SampleBudget
from kubeprom.promql.checkpoint import checking
from kubeprom.promql.eval import aggregate, binary, calls, selectors, subquery
from kubeprom.promql.memo import SHARED_NODES, QueryMemo, Reuse
from kubeprom.promql.options import EngineOptions
from kubeprom.promql.steps import cleanup_labels, merge_same_labels
from kubeprom.promql.types import (
    Annotations,
    InstantSteps,
    RangeWindows,
    Scalar,
    String,
    Value,
    type_name,
)
from kubeprom.tsdb.api import Querier

ENV = "query execution"


class QueryEvaluator:
    """Evaluates one query's tree against a Querier (implements ``eval.evaluator.Evaluator``).

    ``start_ms``/``end_ms`` are the query's own range (what ``@ start()`` / ``@ end()``
    mean, also inside subqueries). Raises :class:`EvalError`, :class:`TooManySamples` or
    :class:`QueryTimeout`; warnings and infos accumulate in ``annotations``. Setting
    ``cancel`` (from any thread) makes the next check raise :class:`QueryCanceled`: the
    HTTP API sets it when the client's wait ends, so abandoned work stops too. With a
    ``budget``, the samples it holds count against the server's total as well
    (:meth:`hold`), until :meth:`evaluate` returns or raises.
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
        clock: Clock,
        cancel: threading.Event | None = None,
        budget: SampleBudget | None = None,
        memo: QueryMemo | None = None,
        reuse: Reuse | None = None,
    ) -> None:
        self.querier: Querier = querier
        self.options = options
        self.query = query
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.step_ms = step_ms
        self.annotations = Annotations.new()
        self.samples = 0
        self.peak_samples = 0
        self._clock = clock
        self._deadline_ns = clock.monotonic_ns() + round(options.timeout_s * 1e9)
        self._cancel = cancel
        self._budget = budget
        self._live = 0  # samples held (hold), as opposed to only counted (count)
        self._reserved = 0  # taken from the budget, given back by release_budget
        self._memo = memo
        self.reuse = reuse

    # ---- limits and annotations ------------------------------------------------------------

    def check_timeout(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise QueryCanceled(f"query was canceled in {ENV}")
        if self._clock.monotonic_ns() > self._deadline_ns:
            raise QueryTimeout(f"query timed out in {ENV}")

    def check_size(self, cells: int) -> None:
        """Refuse a block of ``cells`` values (series x steps) before it is allocated.

        Values are held densely, one per series and step, so no block may hold more than
        the query's ``max_samples``, whatever share of it is present. Also checks the
        deadline: every large allocation is a point where work can stop.
        """
        if cells > self.options.max_samples:
            raise TooManySamples(
                f"query processing would load too many samples into memory in {ENV}"
            )
        self.check_timeout()

    def hold(self, n: int) -> None:
        """Account for ``n`` samples now held in memory (negative to release them).

        Past this query's ``max_samples`` it fails; with a server-wide budget, what it
        holds beyond what it reserved before is reserved there too (waiting a bounded time
        for other queries to release it), and given back by :meth:`release_budget`.
        """
        self.count(n)
        self._live += n
        if self._budget is not None and self._live > self._reserved:
            more = self._live - self._reserved
            left_s = (self._deadline_ns - self._clock.monotonic_ns()) / 1e9
            self._budget.reserve(
                more, holding=self._reserved, check=self.check_timeout, remaining_s=left_s
            )
            self._reserved += more

    def count(self, n: int) -> None:
        """Count ``n`` samples against ``max_samples`` as if held, without holding them:
        for a caller that reduces them at once (a folded subquery), so the query's own
        limit refuses what it refused when they were kept, while the server's budget sees
        only what is held."""
        self.samples += n
        if self.samples > self.options.max_samples:
            raise TooManySamples(
                f"query processing would load too many samples into memory in {ENV}"
            )
        self.peak_samples = max(self.peak_samples, self.samples)

    def release_budget(self) -> None:
        """Give back everything this query took from the server-wide budget."""
        if self._budget is not None:
            self._budget.release(self._reserved)
        self._reserved = 0

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

    def evaluate(self, e: ast.Expr, ts: I64Array) -> Value:
        """The whole query: :meth:`eval` with this query's checks installed as the thread's
        :func:`~kubeprom.promql.checkpoint.checkpoint`, so the loops of range functions and
        aggregations stop at the deadline, on cancellation or past a limit too."""
        try:
            with checking(self.check_timeout):
                return self.eval(e, ts)
        finally:
            # Whatever ended it (an answer, an error, the deadline, cancellation), the
            # result no longer counts against the other queries' budget.
            self.release_budget()

    def eval(self, e: ast.Expr, ts: I64Array) -> Value:
        v = self._eval(e, ts)
        # count_nonzero: a fifth of ndarray.any()'s cost on the few rows a node holds, and
        # this runs after every node.
        if (
            not self.options.delayed_name_removal
            and isinstance(v, InstantSteps)
            and np.count_nonzero(v.drop_name)
        ):
            # Eager removal, step by step: equal label sets at one step are an error.
            v = merge_same_labels(cleanup_labels(v))
        return v

    def _eval(self, e: ast.Expr, ts: I64Array) -> Value:
        self.check_timeout()
        memo = self._memo
        if memo is not None and isinstance(e, SHARED_NODES) and memo.shapes.worth_keeping(e):
            return self._eval_shared(memo, e, ts)
        return self._eval_node(e, ts)

    def _eval_shared(self, memo: QueryMemo, e: ast.Expr, ts: I64Array) -> Value:
        """A node's value from the memo, or evaluated and kept there (see kubeprom.promql.memo)."""
        key = memo.node_key(e, ts, self.start_ms, self.end_ms)
        found = memo.node(key)
        if found is not None:
            value, held = found
            if held:
                self.hold(held)
            return value
        seen = memo.count()
        noted, samples = self.annotations.noted, self.samples
        v = self._eval_node(e, ts)
        if isinstance(v, InstantSteps | Scalar) and self.annotations.noted == noted:
            memo.keep_node(key, e, v, self.samples - samples, seen)
        return v

    def _eval_node(self, e: ast.Expr, ts: I64Array) -> Value:
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

    def eval_vector(self, e: ast.Expr, ts: I64Array) -> InstantSteps:
        v = self.eval(e, ts)
        if not isinstance(v, InstantSteps):
            raise EvalError(f"expected instant vector, got {type_name(v)}")
        return v

    def eval_vector_for_grouping(self, e: ast.Expr, ts: I64Array) -> InstantSteps:
        v = self._eval(e, ts)
        if not isinstance(v, InstantSteps):
            raise EvalError(f"expected instant vector, got {type_name(v)}")
        if self.options.delayed_name_removal or not np.count_nonzero(v.drop_name):
            return v
        if name_removal_is_harmless(v):
            # As if removed: the caller's grouping never keeps the name.
            return InstantSteps(v.labels, v.values, v.present, np.zeros(len(v.labels), bool))
        return merge_same_labels(cleanup_labels(v))

    def eval_scalar(self, e: ast.Expr, ts: I64Array) -> Scalar:
        v = self.eval(e, ts)
        if not isinstance(v, Scalar):
            raise EvalError(f"expected scalar, got {type_name(v)}")
        return v

    def eval_windows(self, e: ast.Expr, ts: I64Array) -> RangeWindows:
        v = self.eval(e, ts)
        if not isinstance(v, RangeWindows):
            raise EvalError(f"expected range vector, got {type_name(v)}")
        return v


def name_removal_is_harmless(v: InstantSteps) -> bool:
    """Whether dropping the names ``v`` has pending leaves every row's labels distinct.

    True when every row drops its name, all share one name, none has the other metadata
    labels (``__type__``, ``__unit__``) and no two rows have the same labels: the removal
    then merges nothing, so an aggregation that groups by labels other than these may group
    the rows as they are and skip rewriting each label set.
    """
    if not v.drop_name.all():
        return False
    labels = v.labels
    names = {_plain_name(lab.flat) for lab in labels}
    return len(names) <= 1 and None not in names and len(set(labels)) == len(labels)


def _plain_name(flat: tuple[str, ...]) -> str | None:
    """The metric name of a label set without ``__type__``/``__unit__``, else None.

    Names sort, so after a leading ``__name__`` a next name above ``__unit__`` (every
    lower-case name) rules both out; anything else is checked name by name.
    """
    if flat[:1] == ("__name__",) and (len(flat) == 2 or flat[2] > "__unit__"):
        return flat[1]
    names = flat[0::2]
    if "__type__" in names or "__unit__" in names:
        return None
    return flat[names.index("__name__") * 2 + 1] if "__name__" in names else ""


def negate(v: Value) -> Value:
    if isinstance(v, Scalar):
        return Scalar(-v.values)
    if isinstance(v, InstantSteps):
        return InstantSteps(v.labels, -v.values, v.present, np.ones(len(v.labels), dtype=bool))
    raise EvalError("unary expression only allowed on expressions of type scalar or vector")
