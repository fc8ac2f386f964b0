"""What recording and alerting rules share: the query, health, timing and the output vector.

A rule's step is ``evaluate(t_ms, query_offset_ms, query, limit)``: it queries at
``t_ms - query_offset_ms`` and returns the :class:`Vector` to append at that time, or raises
:class:`RuleEvalError` (or the query's own error). The group records health and timing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import promql_parser

from kubeprom.errors import KubepromError
from kubeprom.model.labels import EMPTY, Labels
from kubeprom.model.samples import F64Array
from kubeprom.promql.api import QueryAPI, ResultType


class RuleHealth(StrEnum):
    UNKNOWN = "unknown"
    OK = "ok"
    ERR = "err"


class RuleEvalError(KubepromError):
    """A rule's result cannot be used (duplicate label sets, limit exceeded, wrong type)."""


@dataclass(frozen=True, slots=True)
class Vector:
    """Samples at one time: ``labels[i]`` has ``values[i]``."""

    labels: list[Labels] = field(default_factory=list)
    values: F64Array = field(default_factory=lambda: np.empty(0, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.labels)


def query_vector(query: QueryAPI, expr: str, t_ms: int) -> Vector:
    """An instant query as a rule sees it (Prometheus' ``EngineQueryFunc``): a scalar is one
    sample without labels; a string is an error."""
    res = query.instant(expr, t_ms)
    if res.result_type is ResultType.VECTOR:
        return Vector(res.labels, res.v)
    if res.result_type is ResultType.SCALAR:
        return Vector([EMPTY], res.v)
    raise RuleEvalError("rule result is not a vector or scalar")


@functools.lru_cache(maxsize=4096)
def expr_string(expr: str) -> str:
    """The expression as Prometheus prints it on one line (``Expr.String()``) where the
    parser's pretty form fits on one line; else the expression as written, trimmed."""
    try:
        pretty = str(promql_parser.parse(expr).prettify())
    except ValueError:
        return expr.strip()
    return pretty if "\n" not in pretty else expr.strip()


class Rule:
    """State every rule keeps. Not task-safe: one group evaluates it."""

    kind = "rule"

    def __init__(self, name: str, expr: str, labels: Labels) -> None:
        self.name = name
        self.expr = expr
        self.labels = labels
        self.query_text = expr_string(expr)
        self.health = RuleHealth.UNKNOWN
        self.last_error = ""
        self.last_eval_ms: int | None = None
        self.eval_duration_s = 0.0

    @property
    def key(self) -> str:
        """Name and labels: how a reload recognises the same rule (``nameAndLabels``)."""
        return self.name + str(self.labels)

    def evaluate(self, t_ms: int, query_offset_ms: int, query: QueryAPI, limit: int) -> Vector:
        raise NotImplementedError

    def output_names(self) -> frozenset[str] | None:
        """The metric names of every series the rule writes (None: not known)."""
        return None

    def same_definition(self, other: Rule) -> bool:
        """Whether ``other`` is the same rule as written (Prometheus compares ``String()``)."""
        return type(self) is type(other) and (self.name, self.expr, self.labels) == (
            other.name,
            other.expr,
            other.labels,
        )
