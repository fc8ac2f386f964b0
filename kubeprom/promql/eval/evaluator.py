"""What a node's evaluation needs of the evaluator: the :class:`Evaluator` protocol.

The modules of ``promql/eval`` take the evaluator as a parameter typed by this protocol and
never import :mod:`kubeprom.promql.engine`, which imports them: the dependency runs one way,
engine -> eval -> (types, steps, functions). :class:`kubeprom.promql.engine.QueryEvaluator`
is the implementation.
"""

from __future__ import annotations

from typing import Protocol

from kubeprom.model.samples import I64Array
from kubeprom.promql import ast
from kubeprom.promql.memo import Reuse
from kubeprom.promql.options import EngineOptions
from kubeprom.promql.types import Annotations, InstantSteps, RangeWindows, Scalar, Value
from kubeprom.tsdb.api import Querier


class Evaluator(Protocol):
    """One query's evaluation state, as the node evaluators use it.

    ``start_ms``/``end_ms``/``step_ms`` are the query's own range (what ``@ start()`` and
    ``@ end()`` mean, also inside subqueries). Every ``eval*`` takes evaluation times ``ts``
    (ms, int64, ascending) and returns a value whose step axis is ``ts``; they raise
    EvalError, TooManySamples or QueryTimeout. Not task-safe: one per query.
    """

    querier: Querier
    options: EngineOptions
    query: str
    start_ms: int
    end_ms: int
    step_ms: int
    annotations: Annotations
    reuse: Reuse | None  # label work kept across a rule group's iterations (None: none)

    def check_timeout(self) -> None:
        """Raise QueryTimeout once the query's time is up."""
        ...

    def check_size(self, cells: int) -> None:
        """Raise TooManySamples before allocating a series x steps block of ``cells``
        values beyond the limit; also checks the deadline."""
        ...

    def hold(self, n: int) -> None:
        """Account for ``n`` samples now held in memory (negative to release them)."""
        ...

    def count(self, n: int) -> None:
        """Count ``n`` samples against the query's limit as if held, for a caller that
        reduces them at once (not reserved from the server's budget)."""
        ...

    def warn(self, text: str, pos: ast.Pos) -> None: ...

    def info(self, text: str, pos: ast.Pos) -> None: ...

    def merge(self, ann: Annotations, pos: ast.Pos) -> None:
        """Adopt annotations a function produced, adding prefix and position if missing."""
        ...

    def at_time(self, at: ast.At) -> int: ...

    def effective_times(self, ts: I64Array, at: ast.At | None, offset_ms: int) -> I64Array:
        """The times a selector reads at: ``@`` fixes them, ``offset`` shifts them back."""
        ...

    def eval(self, e: ast.Expr, ts: I64Array) -> Value: ...

    def eval_vector(self, e: ast.Expr, ts: I64Array) -> InstantSteps:
        """Evaluate an expression that must give an instant vector."""
        ...

    def eval_vector_for_grouping(self, e: ast.Expr, ts: I64Array) -> InstantSteps:
        """Like :meth:`eval_vector`, for a caller that keeps only labels other than the
        metadata labels (an aggregation by grouping labels): a row may still carry the
        ``__name__`` that :meth:`eval_vector` would have removed, when removing it would
        have merged no rows; the caller must ignore it."""
        ...

    def eval_scalar(self, e: ast.Expr, ts: I64Array) -> Scalar: ...

    def eval_windows(self, e: ast.Expr, ts: I64Array) -> RangeWindows:
        """Evaluate an expression that must give a range vector."""
        ...
