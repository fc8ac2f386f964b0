"""The evaluator's own expression tree, converted from promql-parser's AST by ``parse.py``.

promql-parser's nodes carry no source positions and some of their attributes cannot be read
back for every input (a negative ``@`` timestamp panics), so the engine works on these
frozen dataclasses instead. Every node has ``pos`` (0-based ``[start, end)`` character
offsets into the query text, used for annotation positions) and ``type`` (the PromQL value
type the parser inferred).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kubeprom.model.matchers import Matcher


class ValueType(StrEnum):
    """PromQL value types, spelled as Prometheus documents them in error messages."""

    SCALAR = "scalar"
    VECTOR = "instant vector"
    MATRIX = "range vector"
    STRING = "string"


@dataclass(frozen=True, slots=True)
class Pos:
    start: int
    end: int


NO_POS = Pos(0, 0)


class AtKind(StrEnum):
    AT = "at"
    START = "start"
    END = "end"


@dataclass(frozen=True, slots=True)
class At:
    """An ``@`` modifier: a fixed time in ms, or the query's start()/end()."""

    kind: AtKind
    t_ms: int = 0


@dataclass(frozen=True, slots=True)
class Expr:
    pos: Pos = field(default=NO_POS, kw_only=True)

    @property
    def type(self) -> ValueType:  # pragma: no cover - every subclass overrides
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class NumberLit(Expr):
    value: float

    @property
    def type(self) -> ValueType:
        return ValueType.SCALAR


@dataclass(frozen=True, slots=True)
class StringLit(Expr):
    value: str

    @property
    def type(self) -> ValueType:
        return ValueType.STRING


@dataclass(frozen=True, slots=True)
class VectorSel(Expr):
    """An instant vector selector; ``matchers`` include the ``__name__`` matcher if named."""

    name: str | None
    matchers: tuple[Matcher, ...]
    offset_ms: int = 0
    at: At | None = None

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class MatrixSel(Expr):
    selector: VectorSel
    range_ms: int

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(frozen=True, slots=True)
class Subquery(Expr):
    """``expr[range:step]``; ``step_ms`` 0 means the engine's default subquery step."""

    expr: Expr
    range_ms: int
    step_ms: int
    offset_ms: int = 0
    at: At | None = None

    @property
    def type(self) -> ValueType:
        return ValueType.MATRIX


@dataclass(frozen=True, slots=True)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]
    return_type: ValueType

    @property
    def type(self) -> ValueType:
        return self.return_type


@dataclass(frozen=True, slots=True)
class Aggregate(Expr):
    op: str
    expr: Expr
    param: Expr | None
    grouping: tuple[str, ...]
    without: bool

    @property
    def type(self) -> ValueType:
        return ValueType.VECTOR


class Card(StrEnum):
    ONE_TO_ONE = "one-to-one"
    MANY_TO_ONE = "many-to-one"
    ONE_TO_MANY = "one-to-many"
    MANY_TO_MANY = "many-to-many"


@dataclass(frozen=True, slots=True)
class VectorMatching:
    """How two vectors are matched: ``on``/``ignoring`` labels, ``group_x`` include labels.

    ``fill_lhs``/``fill_rhs`` are the ``fill()`` modifiers' values for a missing side.
    """

    card: Card
    on: bool
    labels: tuple[str, ...]
    include: tuple[str, ...] = ()
    fill_lhs: float | None = None
    fill_rhs: float | None = None


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: str
    lhs: Expr
    rhs: Expr
    matching: VectorMatching | None
    return_bool: bool

    @property
    def type(self) -> ValueType:
        if self.lhs.type is ValueType.SCALAR and self.rhs.type is ValueType.SCALAR:
            return ValueType.SCALAR
        return ValueType.VECTOR


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    op: str
    expr: Expr

    @property
    def type(self) -> ValueType:
        return self.expr.type


@dataclass(frozen=True, slots=True)
class Paren(Expr):
    expr: Expr

    @property
    def type(self) -> ValueType:
        return self.expr.type


COMPARISON_OPS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPS = frozenset({"and", "or", "unless"})


def unwrap_parens(e: Expr) -> Expr:
    while isinstance(e, Paren):
        e = e.expr
    return e


def children(e: Expr) -> tuple[Expr, ...]:
    """Direct sub-expressions, in source order."""
    if isinstance(e, MatrixSel):
        return (e.selector,)
    if isinstance(e, Subquery | Unary | Paren):
        return (e.expr,)
    if isinstance(e, Call):
        return e.args
    if isinstance(e, Aggregate):
        return (e.param, e.expr) if e.param is not None else (e.expr,)
    if isinstance(e, Binary):
        return (e.lhs, e.rhs)
    return ()


def walk(e: Expr) -> list[Expr]:
    """Every node of the tree, parents before children."""
    out = [e]
    for c in children(e):
        out += walk(c)
    return out
