"""The nodes Prometheus' grammar actions build, with its positions and types.

Just enough of ``promql/parser/ast.go`` to run the actions and ``checkAST`` as Prometheus
does: each node knows its position range (``PositionRange()``) and value type (``Type()``).
Nodes are mutable because the actions set offsets and ``@`` times on them after building.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeprom.model.matchers import Matcher
from kubeprom.promql.syntax.functions import Signature

VECTOR, MATRIX, SCALAR, STRING, NONE = "vector", "matrix", "scalar", "string", "none"
_LETTERS = {"V": VECTOR, "M": MATRIX, "S": SCALAR, "s": STRING}


def letter_type(letter: str) -> str:
    return _LETTERS[letter]


def documented(t: str) -> str:
    """DocumentedType: the user's word for a value type."""
    return {VECTOR: "instant vector", MATRIX: "range vector"}.get(t, t)


class Node:
    __slots__ = ()

    @property
    def start(self) -> int:
        raise NotImplementedError

    @property
    def end(self) -> int:
        raise NotImplementedError

    @property
    def type(self) -> str:
        return NONE


@dataclass(slots=True, eq=False)
class Num(Node):
    val: float
    pos: int
    end_pos: int
    duration: bool = False

    @property
    def start(self) -> int:
        return self.pos

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return SCALAR


@dataclass(slots=True, eq=False)
class Str(Node):
    val: str
    pos: int
    end_pos: int

    @property
    def start(self) -> int:
        return self.pos

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return STRING


@dataclass(slots=True, eq=False)
class VectorSel(Node):
    name: str
    matchers: list[Matcher | None]
    pos: int
    end_pos: int
    offset_ns: int = 0
    offset_expr: Node | None = None
    timestamp: int | None = None
    start_or_end: str = ""
    bypass_empty_check: bool = False

    @property
    def start(self) -> int:
        return self.pos

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return VECTOR


@dataclass(slots=True, eq=False)
class MatrixSel(Node):
    vs: Node
    end_pos: int

    @property
    def start(self) -> int:
        return self.vs.start

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return MATRIX


@dataclass(slots=True, eq=False)
class Subquery(Node):
    expr: Node
    end_pos: int
    offset_ns: int = 0
    offset_expr: Node | None = None
    timestamp: int | None = None
    start_or_end: str = ""

    @property
    def start(self) -> int:
        return self.expr.start

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return MATRIX


@dataclass(slots=True, eq=False)
class Paren(Node):
    expr: Node
    pos: int
    end_pos: int

    @property
    def start(self) -> int:
        return self.pos

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return self.expr.type


@dataclass(slots=True, eq=False)
class Unary(Node):
    op: str
    expr: Node
    pos: int

    @property
    def start(self) -> int:
        return self.pos

    @property
    def end(self) -> int:
        return self.expr.end

    @property
    def type(self) -> str:
        return self.expr.type


@dataclass(slots=True, eq=False)
class Matching:
    card: str = "one-to-one"
    labels: list[str] = field(default_factory=list)
    on: bool = False
    include: list[str] = field(default_factory=list)
    fill_lhs: float | None = None
    fill_rhs: float | None = None


@dataclass(slots=True, eq=False)
class Binary(Node):
    op: str = ""
    lhs: Node | None = None
    rhs: Node | None = None
    return_bool: bool = False
    matching: Matching | None = field(default_factory=Matching)

    @property
    def start(self) -> int:
        return self.lhs.start if self.lhs is not None else 0

    @property
    def end(self) -> int:
        return self.rhs.end if self.rhs is not None else 0

    @property
    def type(self) -> str:
        lhs, rhs = self.lhs, self.rhs
        if lhs is not None and rhs is not None and lhs.type == SCALAR and rhs.type == SCALAR:
            return SCALAR
        return VECTOR


@dataclass(slots=True, eq=False)
class Aggregate(Node):
    op: str = ""
    expr: Node | None = None
    param: Node | None = None
    grouping: list[str] = field(default_factory=list)
    without: bool = False
    pos: int = 0
    end_pos: int = 0

    @property
    def start(self) -> int:
        return self.pos

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return VECTOR


@dataclass(slots=True, eq=False)
class Call(Node):
    name: str
    sig: Signature | None
    args: list[Node]
    pos: int
    end_pos: int

    @property
    def start(self) -> int:
        return self.pos

    @property
    def end(self) -> int:
        return self.end_pos

    @property
    def type(self) -> str:
        return letter_type(self.sig.returns) if self.sig is not None else NONE


@dataclass(slots=True, eq=False)
class Duration(Node):
    """A duration expression (``step()``, ``5m + 1m``): experimental in Prometheus."""

    op: str
    lhs: Node | None = None
    rhs: Node | None = None
    start_pos: int = 0
    end_pos: int = 0

    @property
    def start(self) -> int:
        if self.lhs is not None and self.rhs is not None:
            return self.lhs.start
        return self.start_pos

    @property
    def end(self) -> int:
        if self.lhs is None and self.rhs is None:
            return self.end_pos
        if self.rhs is None and self.lhs is not None:
            return self.lhs.end
        return self.rhs.end if self.rhs is not None else self.end_pos

    @property
    def type(self) -> str:
        return SCALAR
