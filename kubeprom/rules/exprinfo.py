"""What a rule expression reads: its selectors, and whether it looks outside ``(.., t]``.

The unit-test runner and the backtest use this to order rule groups by their dependencies,
to tell when a whole-range evaluation equals evaluating step by step, and to answer an
expression none of whose selectors match any series without touching the store; the lints
use it to find input series nothing reads.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kubeprom.model.labels import METRIC_NAME, Labels
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.promql import ast
from kubeprom.promql.parse import parse

ALERTS_NAMES = frozenset({"ALERTS", "ALERTS_FOR_STATE"})
# Functions whose result is empty when their vector (or range-vector) argument is: the
# per-series ones. Not absent*, vector, scalar, time and the date functions without an
# argument (they default to vector(time())), nor info (it reads series of its own).
_EMPTY_IN_EMPTY_OUT = frozenset(
    {
        "abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time", "ceil",
        "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time",
        "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg", "delta",
        "deriv", "double_exponential_smoothing", "exp", "floor", "histogram_avg",
        "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
        "histogram_stdvar", "histogram_sum", "holt_winters", "hour", "idelta", "increase",
        "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2",
        "mad_over_time", "max_over_time", "min_over_time", "minute", "month",
        "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate",
        "resets", "round", "sgn", "sin", "sinh", "sort", "sort_by_label",
        "sort_by_label_desc", "sort_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
        "sum_over_time", "tan", "tanh", "timestamp", "year",
    }
)  # fmt: skip
# Functions whose absence checks are the point: the series they read are expected to stop.
_ABSENCE_FUNCS = frozenset({"absent", "absent_over_time"})


@dataclass(frozen=True, slots=True)
class Selector:
    """One vector selector (also the one inside a range selector). ``in_absent``: only
    inside ``absent()`` / ``absent_over_time()``."""

    matchers: tuple[Matcher, ...]
    in_absent: bool = False

    @property
    def metric_name(self) -> str | None:
        """The name an equality matcher fixes, if any."""
        for m in self.matchers:
            if m.name == METRIC_NAME and m.type is MatchType.EQUAL:
                return m.value
        return None

    def may_select_name(self, name: str, alertname: str | None = None) -> bool:
        """Whether series named ``name`` could match (other labels unknown). For the
        ``ALERTS`` series ``alertname`` is the rule's name, which an ``alertname`` matcher
        may rule out."""
        for m in self.matchers:
            if m.name == METRIC_NAME and not m.matches(name):
                return False
            if alertname is not None and m.name == "alertname" and not m.matches(alertname):
                return False
        return True

    def selects(self, labels: Labels) -> bool:
        return all(m.matches(labels.get(m.name)) for m in self.matchers)


@dataclass(frozen=True, slots=True)
class ExprReads:
    """``looks_ahead``: a negative offset or an ``@`` modifier (the expression may read
    samples after its evaluation time, or at a time a whole-range query fixes differently).
    ``opaque``: it reads series no selector names (``info()``). ``by_name`` indexes the
    selectors that fix a metric name; ``unnamed`` are the others."""

    selectors: tuple[Selector, ...]
    looks_ahead: bool
    opaque: bool
    by_name: dict[str, tuple[Selector, ...]] = field(default_factory=dict)
    unnamed: tuple[Selector, ...] = ()

    def may_read_output(self, name: str, alertname: str | None = None) -> bool:
        if self.opaque:
            return True
        sels = (*self.by_name.get(name, ()), *self.unnamed)
        return any(s.may_select_name(name, alertname) for s in sels)


@functools.lru_cache(maxsize=4096)
def reads(expr: str) -> ExprReads:
    """The selectors of ``expr`` (which must parse) in source order."""
    sels: list[Selector] = []
    ahead = False
    opaque = False

    def visit(e: ast.Expr, in_absent: bool) -> None:
        nonlocal ahead, opaque
        if isinstance(e, ast.VectorSel):
            sels.append(Selector(e.matchers, in_absent))
            ahead = ahead or e.offset_ms < 0 or e.at is not None
        elif isinstance(e, ast.Subquery):
            ahead = ahead or e.offset_ms < 0 or e.at is not None
        elif isinstance(e, ast.Call):
            if e.func == "info":
                opaque = True
            in_absent = in_absent or e.func in _ABSENCE_FUNCS
        for c in ast.children(e):
            visit(c, in_absent)

    visit(parse(expr), False)
    by_name: dict[str, tuple[Selector, ...]] = {}
    for s in sels:
        name = s.metric_name
        if name is not None:
            by_name[name] = (*by_name.get(name, ()), s)
    unnamed = tuple(s for s in sels if s.metric_name is None)
    return ExprReads(tuple(sels), ahead, opaque, by_name, unnamed)


def output_names(record: str, alert: str) -> frozenset[str]:
    """The metric names a rule writes."""
    return ALERTS_NAMES if alert else frozenset({record})


def reads_output(reader: ExprReads, record: str, alert: str) -> bool:
    """Whether an expression may read what a rule (``record`` or ``alert`` named) writes."""
    if alert:
        return any(reader.may_read_output(n, alert) for n in ALERTS_NAMES)
    return reader.may_read_output(record)


def selected(
    reader: ExprReads, series: Mapping[str, Sequence[Labels]], *, count_absent: bool
) -> set[Labels]:
    """The label sets of ``series`` (by metric name) one of the selectors matches (those
    only inside ``absent()`` left out unless ``count_absent``)."""
    out: set[Labels] = set()
    for s in reader.selectors:
        if s.in_absent and not count_absent:
            continue
        name = s.metric_name
        pool = series.get(name, ()) if name is not None else [x for v in series.values() for x in v]
        out.update(lab for lab in pool if s.selects(lab))
    return out


def by_metric_name(series: Iterable[Labels]) -> dict[str, list[Labels]]:
    """Label sets grouped by metric name (for :func:`selected`)."""
    out: dict[str, list[Labels]] = {}
    for lab in series:
        out.setdefault(lab.name, []).append(lab)
    return out


@functools.lru_cache(maxsize=4096)
def required(expr: str) -> tuple[Selector, ...]:
    """Selectors of ``expr`` such that, if any of them selects no series, the result is
    empty: what a backtest checks to skip a rule whose input does not exist."""
    return tuple(_required(parse(expr)))


def _required(e: ast.Expr) -> list[Selector]:
    if isinstance(e, ast.VectorSel):
        return [Selector(e.matchers)]
    if isinstance(e, ast.MatrixSel):
        return [Selector(e.selector.matchers)]
    if isinstance(e, ast.Paren | ast.Unary | ast.Subquery):
        return _required(e.expr)
    if isinstance(e, ast.Aggregate):
        return _required(e.expr)
    if isinstance(e, ast.Call):
        if e.func not in _EMPTY_IN_EMPTY_OUT:
            return []
        return [
            s
            for a in e.args
            if a.type in (ast.ValueType.VECTOR, ast.ValueType.MATRIX)
            for s in _required(a)
        ]
    if isinstance(e, ast.Binary):
        lhs_vec = e.lhs.type is ast.ValueType.VECTOR
        rhs_vec = e.rhs.type is ast.ValueType.VECTOR
        m = e.matching
        if m is not None and (m.fill_lhs is not None or m.fill_rhs is not None):
            return []
        if lhs_vec and rhs_vec:
            if e.op == "or":
                right = set(_required(e.rhs))
                return [s for s in _required(e.lhs) if s in right]
            if e.op == "unless":
                return _required(e.lhs)
            return _required(e.lhs) + _required(e.rhs)
        if lhs_vec:
            return _required(e.lhs)
        if rhs_vec:
            return _required(e.rhs)
    return []


@functools.lru_cache(maxsize=4096)
def reach_ms(expr: str, lookback_ms: int) -> int | None:
    """How far before its evaluation time ``expr`` reads (ranges, offsets, subqueries and
    the lookback), or None when it reads at times of its own (``@``) or after (a negative
    offset)."""

    def reach(e: ast.Expr) -> int | None:
        if isinstance(e, ast.VectorSel):
            if e.at is not None or e.offset_ms < 0:
                return None
            return e.offset_ms + lookback_ms
        if isinstance(e, ast.MatrixSel):
            inner = reach(e.selector)
            return None if inner is None else inner - lookback_ms + e.range_ms
        if isinstance(e, ast.Subquery):
            if e.at is not None or e.offset_ms < 0:
                return None
            inner = reach(e.expr)
            return None if inner is None else inner + e.range_ms + e.offset_ms
        found = 0
        for c in ast.children(e):
            r = reach(c)
            if r is None:
                return None
            found = max(found, r)
        return found

    return reach(parse(expr))
