"""Prometheus 3.x's PromQL grammar (``promql/parser/generated_parser.y``) and its actions.

The rules are listed in the file's order (goyacc settles reduce/reduce conflicts by it) and
the terminals in its declaration order (ties between default reductions go by it). The
series-description rules (promqltest's ``load`` syntax, reachable only from their own start
token) are left out. Actions are Python ports of the grammar's Go actions and of the
``parser`` methods they call (``parse.go``): they build :mod:`nodes` and record errors, in
the same order, at the same positions, with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kubeprom.errors import ValidationError
from kubeprom.model.goprintf import ParseFloatError, parse_float
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.promql.lexer import string_value
from kubeprom.promql.syntax import nodes as n
from kubeprom.promql.syntax.durations import declare_durations, parse_duration_ns
from kubeprom.promql.syntax.functions import FUNCTIONS
from kubeprom.promql.syntax.lalr import Assoc, Rule
from kubeprom.promql.syntax.lex import Item, go_quote
from kubeprom.promql.syntax.regex_errors import go_regex_error

TERMINALS = [
    "EQL",
    "BLANK",
    "COLON",
    "COMMA",
    "COMMENT",
    "DURATION",
    "EOF",
    "ERROR",
    "IDENTIFIER",
    "LEFT_BRACE",
    "LEFT_BRACKET",
    "LEFT_PAREN",
    "OPEN_HIST",
    "CLOSE_HIST",
    "METRIC_IDENTIFIER",
    "NUMBER",
    "RIGHT_BRACE",
    "RIGHT_BRACKET",
    "RIGHT_PAREN",
    "SEMICOLON",
    "SPACE",
    "STRING",
    "TIMES",
    "histogramDescStart",
    "SUM_DESC",
    "COUNT_DESC",
    "SCHEMA_DESC",
    "OFFSET_DESC",
    "NEGATIVE_OFFSET_DESC",
    "BUCKETS_DESC",
    "NEGATIVE_BUCKETS_DESC",
    "ZERO_BUCKET_DESC",
    "ZERO_BUCKET_WIDTH_DESC",
    "CUSTOM_VALUES_DESC",
    "COUNTER_RESET_HINT_DESC",
    "histogramDescEnd",
    "operatorsStart",
    "ADD",
    "DIV",
    "EQLC",
    "EQL_REGEX",
    "GTE",
    "GTR",
    "TRIM_UPPER",
    "TRIM_LOWER",
    "LAND",
    "LOR",
    "LSS",
    "LTE",
    "LUNLESS",
    "MOD",
    "MUL",
    "NEQ",
    "NEQ_REGEX",
    "POW",
    "SUB",
    "AT",
    "ATAN2",
    "operatorsEnd",
    "aggregatorsStart",
    "AVG",
    "BOTTOMK",
    "COUNT",
    "COUNT_VALUES",
    "GROUP",
    "MAX",
    "MIN",
    "QUANTILE",
    "STDDEV",
    "STDVAR",
    "SUM",
    "TOPK",
    "LIMITK",
    "LIMIT_RATIO",
    "aggregatorsEnd",
    "keywordsStart",
    "BOOL",
    "BY",
    "GROUP_LEFT",
    "GROUP_RIGHT",
    "FILL",
    "FILL_LEFT",
    "FILL_RIGHT",
    "IGNORING",
    "OFFSET",
    "SMOOTHED",
    "ANCHORED",
    "ON",
    "WITHOUT",
    "keywordsEnd",
    "preprocessorStart",
    "START",
    "END",
    "STEP",
    "RANGE",
    "MAX_OF",
    "MIN_OF",
    "preprocessorEnd",
    "counterResetHintsStart",
    "UNKNOWN_COUNTER_RESET",
    "COUNTER_RESET",
    "NOT_COUNTER_RESET",
    "GAUGE_TYPE",
    "counterResetHintsEnd",
    "startSymbolsStart",
    "START_METRIC",
    "START_SERIES_DESCRIPTION",
    "START_EXPRESSION",
    "START_METRIC_SELECTOR",
    "startSymbolsEnd",
]

PRECEDENCE = [
    (Assoc.LEFT, ["LOR"]),
    (Assoc.LEFT, ["LAND", "LUNLESS"]),
    (Assoc.LEFT, ["EQLC", "GTE", "GTR", "LSS", "LTE", "NEQ", "TRIM_UPPER", "TRIM_LOWER"]),
    (Assoc.LEFT, ["ADD", "SUB"]),
    (Assoc.LEFT, ["MUL", "DIV", "MOD", "ATAN2"]),
    (Assoc.RIGHT, ["POW"]),
    (Assoc.NONASSOC, ["OFFSET"]),
    (Assoc.RIGHT, ["LEFT_BRACKET"]),
]

BINARY_OPS = [
    "ADD",
    "ATAN2",
    "DIV",
    "EQLC",
    "GTE",
    "GTR",
    "TRIM_UPPER",
    "TRIM_LOWER",
    "LAND",
    "LOR",
    "LSS",
    "LTE",
    "LUNLESS",
    "MOD",
    "MUL",
    "NEQ",
    "POW",
    "SUB",
]
COMPARISONS = frozenset({"EQLC", "NEQ", "LTE", "LSS", "GTE", "GTR"})
SET_OPS = frozenset({"LAND", "LOR", "LUNLESS"})
PARAM_AGGS = frozenset({"TOPK", "BOTTOMK", "COUNT_VALUES", "QUANTILE", "LIMITK", "LIMIT_RATIO"})
METRIC_IDENTIFIERS = [
    "AVG",
    "BOTTOMK",
    "BY",
    "COUNT",
    "COUNT_VALUES",
    "FILL",
    "FILL_LEFT",
    "FILL_RIGHT",
    "GROUP",
    "IDENTIFIER",
    "LAND",
    "LOR",
    "LUNLESS",
    "MAX",
    "METRIC_IDENTIFIER",
    "MIN",
    "OFFSET",
    "QUANTILE",
    "STDDEV",
    "STDVAR",
    "SUM",
    "TOPK",
    "WITHOUT",
    "START",
    "END",
    "LIMITK",
    "LIMIT_RATIO",
    "STEP",
    "RANGE",
    "ANCHORED",
    "SMOOTHED",
    "MAX_OF",
    "MIN_OF",
]
AGGREGATE_OPS = [
    "AVG",
    "BOTTOMK",
    "COUNT",
    "COUNT_VALUES",
    "GROUP",
    "MAX",
    "MIN",
    "QUANTILE",
    "STDDEV",
    "STDVAR",
    "SUM",
    "TOPK",
    "LIMITK",
    "LIMIT_RATIO",
]
MAYBE_LABELS = [
    "AVG",
    "BOOL",
    "BOTTOMK",
    "BY",
    "COUNT",
    "COUNT_VALUES",
    "GROUP",
    "GROUP_LEFT",
    "GROUP_RIGHT",
    "FILL",
    "FILL_LEFT",
    "FILL_RIGHT",
    "IDENTIFIER",
    "IGNORING",
    "LAND",
    "LOR",
    "LUNLESS",
    "MAX",
    "METRIC_IDENTIFIER",
    "MIN",
    "OFFSET",
    "ON",
    "QUANTILE",
    "STDDEV",
    "STDVAR",
    "SUM",
    "TOPK",
    "START",
    "END",
    "ATAN2",
    "LIMITK",
    "LIMIT_RATIO",
    "STEP",
    "RANGE",
    "ANCHORED",
    "SMOOTHED",
    "MAX_OF",
    "MIN_OF",
]

_MAX_INT64 = float(2**63)


class Context:
    """The parser's state the actions read and write (Go's ``parser`` struct)."""

    def __init__(self, query: str, *, experimental_functions: bool, fill_modifiers: bool):
        self.input = query
        self.errors: list[tuple[int, int, str]] = []
        self.last_closing = 0
        self.last_pos = 0  # Lexer.lastPos: offset of the last item lexed
        self.lval = Item("", 0, "")
        self.experimental_functions = experimental_functions
        self.fill_modifiers = fill_modifiers
        self.result: n.Node | None = None

    def error(self, start: int, end: int, message: str) -> None:
        self.errors.append((start, end, message))

    def unexpected(self, context: str, expected: str) -> None:
        item = self.lval
        if item.typ == "ERROR":
            return
        msg = f"unexpected {item.desc()}"
        if context:
            msg += f" in {context}"
        if expected:
            msg += f", expected {expected}"
        self.error(item.pos, item.end, msg)

    def number(self, val: str) -> float:
        value = _go_parse_int0(val)
        if value is not None:
            return float(value)
        try:
            return _go_parse_float(val)
        except ValueError as err:
            self.error(self.lval.pos, self.lval.end, f"error parsing number: {err}")
            return math.inf if "range" in str(err) else 0.0

    def find_prev_right_paren(self, fallback: int) -> int:
        text = self.input
        lp = self.last_pos
        if fallback <= 0 or fallback > len(text) or lp <= 0 or lp >= len(text) or text[lp] != ")":
            return fallback
        for i in range(lp - 1, 0, -1):
            if text[i] == ")":
                return i + 1
            if text[i] not in " \t\n\r":
                return fallback
        return fallback


def _go_parse_int0(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64) for lexer numbers (no sign); None when it fails."""
    body = s
    base = 10
    low = s.lower()
    if low.startswith(("0x", "0o", "0b")):
        base = {"x": 16, "o": 8, "b": 2}[low[1]]
        body = s[2:]
    elif len(s) > 1 and s[0] == "0":
        base = 8
        body = s[1:]
    if "_" in body:
        if body.startswith("_") and base == 10:
            return None
        if "__" in body or body.endswith("_"):
            return None
        body = body.replace("_", "")
    try:
        value = int(body, base) if body else None
    except ValueError:
        return None
    if value is None or value >= 2**63:
        return None
    return value


def _matching(b: n.Binary) -> n.Matching:
    """The vector matching ``bool_modifier`` builds and the later modifiers fill in."""
    if b.matching is None:
        raise RuntimeError("a binary modifier without its vector matching (grammar bug)")
    return b.matching


def _go_parse_float(s: str) -> float:
    try:
        return parse_float(s)
    except ParseFloatError as err:
        raise ValueError(str(err)) from None


def build_rules(p: Context) -> list[Rule]:
    """The grammar's rules, their actions closed over ``p``."""
    rules: list[Rule] = []

    def rule(lhs: str, rhs: str, action: Callable[..., Any] | None = None, prec: str = "") -> None:
        rules.append(Rule(lhs, tuple(rhs.split()), action, prec or None))

    _declare(p, rule)
    return rules


def build_actions(p: Context) -> list[Callable[..., Any] | None]:
    """Only the actions of :func:`build_rules`, in the same order (cheaper, per parse)."""
    actions: list[Callable[..., Any] | None] = []

    def rule(lhs: str, rhs: str, action: Callable[..., Any] | None = None, prec: str = "") -> None:
        actions.append(action)

    _declare(p, rule)
    return actions


def _declare(p: Context, rule: Callable[..., None]) -> None:
    """Declare the grammar's rules in the file's order through ``rule``."""

    def set_result(_: Any, e: n.Node) -> None:
        p.result = e

    # start
    rule("start", "START_METRIC metric")
    rule("start", "START_EXPRESSION EOF", lambda *_: p.error(0, 0, "no expression found in input"))
    rule("start", "START_EXPRESSION expr", set_result)
    rule("start", "START_METRIC_SELECTOR vector_selector", set_result)
    rule("start", "start EOF")
    rule("start", "error", lambda _: p.unexpected("", ""))
    for alt in [
        "aggregate_expr",
        "binary_expr",
        "function_call",
        "matrix_selector",
        "number_duration_literal",
        "offset_expr",
        "anchored_expr",
        "smoothed_expr",
        "paren_expr",
        "string_literal",
        "subquery_expr",
        "unary_expr",
        "vector_selector",
        "step_invariant_expr",
        "duration_expr",
    ]:
        rule("expr", alt)

    # aggregations
    rule(
        "aggregate_expr",
        "aggregate_op aggregate_modifier function_call_body",
        lambda op, mod, args: new_aggregate(op, mod, args, overread=False),
    )
    rule(
        "aggregate_expr",
        "aggregate_op function_call_body aggregate_modifier",
        lambda op, args, mod: new_aggregate(op, mod, args, overread=False),
    )
    rule(
        "aggregate_expr",
        "aggregate_op function_call_body",
        lambda op, args: new_aggregate(op, n.Aggregate(), args, overread=True),
    )

    def agg_error(op: Item, _: Any) -> n.Node:
        p.unexpected("aggregation", "")
        return new_aggregate(op, n.Aggregate(), [], overread=False)

    rule("aggregate_expr", "aggregate_op error", agg_error)
    rule("aggregate_modifier", "BY grouping_labels", lambda _, g: n.Aggregate(grouping=g or []))
    rule(
        "aggregate_modifier",
        "WITHOUT grouping_labels",
        lambda _, g: n.Aggregate(grouping=g or [], without=True),
    )

    def new_aggregate(op: Item, mod: n.Aggregate, args: list[n.Node], *, overread: bool) -> n.Node:
        mod.pos, mod.end_pos = op.pos, p.last_closing
        if overread:
            mod.end_pos = p.find_prev_right_paren(p.last_closing)
        mod.op = op.typ
        if not args:
            p.error(mod.start, mod.end, "no arguments for aggregate expression provided")
            return mod
        desired = 1
        if op.typ in PARAM_AGGS:
            if not p.experimental_functions and op.typ in ("LIMITK", "LIMIT_RATIO"):
                p.error(
                    mod.start,
                    mod.end,
                    f"{op.val.lower()}() is experimental and must be "
                    "enabled with --enable-feature=promql-experimental-functions",
                )
                return mod
            desired = 2
            mod.param = args[0]
        if len(args) != desired:
            p.error(
                mod.start,
                mod.end,
                "wrong number of arguments for aggregate expression "
                f"provided, expected {desired}, got {len(args)}",
            )
            return mod
        mod.expr = args[desired - 1]
        return mod

    # binary expressions
    def new_binary(lhs: n.Node, op: Item, mod: n.Binary, rhs: n.Node) -> n.Node:
        mod.lhs, mod.rhs, mod.op = lhs, rhs, op.typ
        vm = mod.matching
        filled = vm is not None and (vm.fill_lhs is not None or vm.fill_rhs is not None)
        if not p.fill_modifiers and filled:
            p.error(mod.start, mod.end, "binop fill modifiers are experimental and not enabled")
        return mod

    for op in BINARY_OPS:
        rule("binary_expr", f"expr {op} bin_modifier expr", new_binary)
    rule("bin_modifier", "fill_modifiers")
    rule("bool_modifier", "", lambda: n.Binary())
    rule("bool_modifier", "BOOL", lambda _: n.Binary(return_bool=True))

    def on_ignoring(on: bool) -> Callable[..., n.Binary]:
        def act(b: n.Binary, _: Item, labels: list[str] | None) -> n.Binary:
            m = _matching(b)
            m.labels = labels or []
            m.on = on
            return b

        return act

    rule("on_or_ignoring", "bool_modifier IGNORING grouping_labels", on_ignoring(False))
    rule("on_or_ignoring", "bool_modifier ON grouping_labels", on_ignoring(True))

    def group(card: str) -> Callable[..., n.Binary]:
        def act(b: n.Binary, _: Item, labels: list[str] | None) -> n.Binary:
            m = _matching(b)
            m.card = card
            m.include = labels or []
            return b

        return act

    rule("group_modifiers", "bool_modifier")
    rule("group_modifiers", "on_or_ignoring")
    rule("group_modifiers", "on_or_ignoring GROUP_LEFT maybe_grouping_labels", group("many-to-one"))
    rule(
        "group_modifiers", "on_or_ignoring GROUP_RIGHT maybe_grouping_labels", group("one-to-many")
    )

    def fill(lhs: bool, rhs: bool) -> Callable[..., n.Binary]:
        def act(b: n.Binary, _: Item, value: n.Num) -> n.Binary:
            m = _matching(b)
            if lhs:
                m.fill_lhs = value.val
            if rhs:
                m.fill_rhs = value.val
            return b

        return act

    def fill_both(b: n.Binary, _: Item, first: n.Num, __: Item, second: n.Num) -> n.Binary:
        m = _matching(b)
        m.fill_lhs, m.fill_rhs = first.val, second.val
        return b

    rule("fill_modifiers", "group_modifiers")
    rule("fill_modifiers", "group_modifiers FILL fill_value", fill(True, True))
    rule("fill_modifiers", "group_modifiers FILL_LEFT fill_value", fill(True, False))
    rule("fill_modifiers", "group_modifiers FILL_RIGHT fill_value", fill(False, True))
    rule("fill_modifiers", "group_modifiers FILL_LEFT fill_value FILL_RIGHT fill_value", fill_both)
    rule(
        "fill_modifiers",
        "group_modifiers FILL_RIGHT fill_value FILL_LEFT fill_value",
        lambda b, _, r, __, left: fill_both(b, _, left, __, r),
    )

    # grouping labels
    rule("grouping_labels", "LEFT_PAREN grouping_label_list RIGHT_PAREN", lambda _, g, __: g)
    rule(
        "grouping_labels",
        "LEFT_PAREN grouping_label_list COMMA RIGHT_PAREN",
        lambda _, g, __, ___: g,
    )
    rule("grouping_labels", "LEFT_PAREN RIGHT_PAREN", lambda *_: [])

    def grouping_error(_: Any) -> None:
        p.unexpected("grouping opts", '"("')

    rule("grouping_labels", "error", grouping_error)
    rule(
        "grouping_label_list",
        "grouping_label_list COMMA grouping_label",
        lambda g, _, lab: [*g, lab.val],
    )
    rule("grouping_label_list", "grouping_label", lambda lab: [lab.val])

    def list_error(g: list[str], _: Any) -> list[str]:
        p.unexpected("grouping opts", '"," or ")"')
        return g

    rule("grouping_label_list", "grouping_label_list error", list_error)

    def grouping_label(item: Item) -> Item:
        if not item.val:
            p.error(item.pos, item.end, f"invalid label name for grouping: {go_quote(item.val)}")
        return item

    def grouping_string(item: Item) -> Item:
        text = string_value(item.val)
        if not text:
            p.error(item.pos, item.end, f"invalid label name for grouping: {go_quote(text)}")
        return Item(item.typ, item.pos + 1, text)

    def grouping_label_error(_: Any) -> Item:
        p.unexpected("grouping opts", "label")
        return Item("", 0, "")

    rule("grouping_label", "maybe_label", grouping_label)
    rule("grouping_label", "STRING", grouping_string)
    rule("grouping_label", "error", grouping_label_error)

    def fill_signed(_: Item, op: Item, value: n.Num, __: Item) -> n.Num:
        if op.typ == "SUB":
            value.val = -value.val
        value.pos = op.pos
        return value

    rule("fill_value", "LEFT_PAREN number_duration_literal RIGHT_PAREN", lambda _, v, __: v)
    rule("fill_value", "LEFT_PAREN unary_op number_duration_literal RIGHT_PAREN", fill_signed)

    # function calls
    def call(name: Item, args: list[n.Node]) -> n.Node:
        sig = FUNCTIONS.get(name.val)
        if sig is None:
            p.error(name.pos, name.end, f"unknown function with name {go_quote(name.val)}")
        elif sig.experimental and not p.experimental_functions:
            p.error(name.pos, name.end, f"function {go_quote(name.val)} is not enabled")
        return n.Call(name.val, sig, args, name.pos, p.last_closing)

    for head in ("IDENTIFIER", "at_modifier_preprocessors", "STEP", "RANGE", "max_of_min_of"):
        rule("function_call", f"{head} function_call_body", call)
    rule("function_call_body", "LEFT_PAREN function_call_args RIGHT_PAREN", lambda _, a, __: a)
    rule("function_call_body", "LEFT_PAREN RIGHT_PAREN", lambda *_: [])
    rule("function_call_args", "function_call_args COMMA expr", lambda a, _, e: [*a, e])
    rule("function_call_args", "expr", lambda e: [e])

    def trailing_comma(a: list[n.Node], comma: Item) -> list[n.Node]:
        p.error(comma.pos, comma.end, "trailing commas not allowed in function call args")
        return a

    rule("function_call_args", "function_call_args COMMA", trailing_comma)
    rule("paren_expr", "LEFT_PAREN expr RIGHT_PAREN", lambda o, e, c: n.Paren(e, o.pos, c.end))

    # offsets, modifiers, ranges
    def positive(e: n.Node) -> n.Node:
        if isinstance(e, n.Num) and e.val <= 0:
            p.error(e.start, e.end, "duration must be greater than 0")
            return n.Num(0.0, 0, 0)
        return e

    rule("positive_duration_expr", "duration_expr", positive)

    def offset(e: n.Node, _: Item, d: n.Node) -> n.Node:
        if isinstance(d, n.Num):
            add_offset(e, round(d.val * 1e9), None)
        else:
            add_offset(e, 0, d)
        return e

    def offset_error(e: n.Node, *_: Any) -> n.Node:
        p.unexpected("offset", "number, duration, step(), or range()")
        return e

    rule("offset_expr", "expr OFFSET offset_duration_expr", offset)
    rule("offset_expr", "expr OFFSET error", offset_error)

    def add_offset(e: n.Node, ns: int, expr: n.Node | None) -> None:
        target: n.VectorSel | n.Subquery
        if isinstance(e, n.VectorSel):
            target = e
        elif isinstance(e, n.MatrixSel):
            if not isinstance(e.vs, n.VectorSel):
                p.error(e.start, e.end, "ranges only allowed for vector selectors")
                return
            target = e.vs
        elif isinstance(e, n.Subquery):
            target = e
        else:
            p.error(
                e.start,
                e.end,
                "offset modifier must be preceded by an instant vector "
                "selector or range vector selector or a subquery",
            )
            return
        if target.offset_ns != 0 or target.offset_expr is not None:
            p.error(e.start, e.end, "offset may not be set multiple times")
        elif expr is None:
            target.offset_ns = ns
        else:
            target.offset_expr = expr
        set_end(e)

    def set_end(e: n.Node) -> None:
        if isinstance(e, n.VectorSel | n.MatrixSel | n.Subquery):
            e.end_pos = p.last_closing

    def modifier(name: str) -> Callable[[n.Node, Item], n.Node]:
        def act(e: n.Node, _: Item) -> n.Node:
            p.error(e.start, e.end, f"{name} modifier is experimental and not enabled")
            return e

        return act

    rule("anchored_expr", "expr ANCHORED", modifier("anchored"))
    rule("smoothed_expr", "expr SMOOTHED", modifier("smoothed"))

    def at_vars(e: n.Node) -> n.VectorSel | n.Subquery | None:
        target: n.VectorSel | n.Subquery
        if isinstance(e, n.VectorSel):
            target = e
        elif isinstance(e, n.MatrixSel):
            if not isinstance(e.vs, n.VectorSel):
                p.error(e.start, e.end, "ranges only allowed for vector selectors")
                return None
            target = e.vs
        elif isinstance(e, n.Subquery):
            target = e
        else:
            p.error(
                e.start,
                e.end,
                "@ modifier must be preceded by an instant vector selector "
                "or range vector selector or a subquery",
            )
            return None
        if target.timestamp is not None or target.start_or_end:
            p.error(e.start, e.end, "@ <timestamp> may not be set multiple times")
            return None
        return target

    def at_time(e: n.Node, _: Item, ts: float) -> n.Node:
        if math.isinf(ts) or math.isnan(ts) or ts >= _MAX_INT64 or ts <= -_MAX_INT64:
            p.error(e.start, e.end, f"timestamp out of bounds for @ modifier: {_go_f(ts)}")
        target = at_vars(e)
        if target is not None:
            target.timestamp = 0 if not math.isfinite(ts) else int(ts * 1000)
            set_end(e)
        return e

    def at_preprocessor(e: n.Node, _: Item, which: Item, *__: Item) -> n.Node:
        target = at_vars(e)
        if target is not None:
            target.start_or_end = which.typ
            set_end(e)
        return e

    def at_error(e: n.Node, *_: Any) -> n.Node:
        p.unexpected("@", "timestamp")
        return e

    rule("step_invariant_expr", "expr AT signed_or_unsigned_number", at_time)
    rule(
        "step_invariant_expr",
        "expr AT at_modifier_preprocessors LEFT_PAREN RIGHT_PAREN",
        at_preprocessor,
    )
    rule("step_invariant_expr", "expr AT error", at_error)
    rule("at_modifier_preprocessors", "START")
    rule("at_modifier_preprocessors", "END")

    def matrix(e: n.Node, open_: Item, _: n.Node, close: Item) -> n.Node:
        msg = ""
        if not isinstance(e, n.VectorSel):
            msg = "ranges only allowed for vector selectors"
        elif e.offset_ns != 0 or e.offset_expr is not None:
            msg = "no offset modifiers allowed before range"
        elif e.timestamp is not None or e.start_or_end:
            msg = "no @ modifiers allowed before range"
        if msg:
            p.error(open_.pos, close.end, msg)
        return n.MatrixSel(e, p.last_closing)

    rule("matrix_selector", "expr LEFT_BRACKET positive_duration_expr RIGHT_BRACKET", matrix)

    def subquery_error(context: str, expected: str) -> Callable[..., n.Node]:
        def act(e: n.Node, *_: Any) -> n.Node:
            p.unexpected(context, expected)
            return e

        return act

    rule(
        "subquery_expr",
        "expr LEFT_BRACKET positive_duration_expr COLON positive_duration_expr RIGHT_BRACKET",
        lambda e, *rest: n.Subquery(e, rest[-1].pos + 1),
    )
    rule(
        "subquery_expr",
        "expr LEFT_BRACKET positive_duration_expr COLON RIGHT_BRACKET",
        lambda e, *rest: n.Subquery(e, rest[-1].pos + 1),
    )
    rule(
        "subquery_expr",
        "expr LEFT_BRACKET positive_duration_expr COLON positive_duration_expr error",
        subquery_error("subquery selector", '"]"'),
    )
    rule(
        "subquery_expr",
        "expr LEFT_BRACKET positive_duration_expr COLON error",
        subquery_error("subquery selector", 'number, duration, step(), range(), or "]"'),
    )
    rule(
        "subquery_expr",
        "expr LEFT_BRACKET positive_duration_expr error",
        subquery_error("subquery or range", '":" or "]"'),
    )
    rule(
        "subquery_expr",
        "expr LEFT_BRACKET error",
        subquery_error("subquery or range selector", "number, duration, step(), or range()"),
    )

    def unary(op: Item, e: n.Node) -> n.Node:
        if isinstance(e, n.Num):
            if op.typ == "SUB":
                e.val = -e.val
            e.pos = op.pos
            return e
        return n.Unary(op.typ, e, op.pos)

    rule("unary_expr", "unary_op expr", unary, prec="MUL")

    # vector selectors
    def assemble(vs: n.VectorSel) -> n.VectorSel:
        if vs.name:
            vs.matchers.append(Matcher(MatchType.EQUAL, "__name__", vs.name))
        return vs

    def named_selector(name: Item, vs: n.VectorSel) -> n.Node:
        vs.pos = name.pos
        vs.name = name.val
        return assemble(vs)

    rule("vector_selector", "metric_identifier label_matchers", named_selector)
    rule(
        "vector_selector",
        "metric_identifier",
        lambda name: assemble(n.VectorSel(name.val, [], name.pos, name.end)),
    )
    rule("vector_selector", "label_matchers", assemble)
    rule(
        "label_matchers",
        "LEFT_BRACE label_match_list RIGHT_BRACE",
        lambda o, ms, c: n.VectorSel("", ms if ms is not None else [], o.pos, c.end),
    )
    rule(
        "label_matchers",
        "LEFT_BRACE label_match_list COMMA RIGHT_BRACE",
        lambda o, ms, _, c: n.VectorSel("", ms if ms is not None else [], o.pos, c.end),
    )
    rule("label_matchers", "LEFT_BRACE RIGHT_BRACE", lambda o, c: n.VectorSel("", [], o.pos, c.end))
    rule(
        "label_match_list",
        "label_match_list COMMA label_matcher",
        lambda ms, _, m: [*ms, m] if ms is not None else ms,
    )
    rule("label_match_list", "label_matcher", lambda m: [m])

    def match_list_error(ms: Any, _: Any) -> Any:
        p.unexpected("label matching", '"," or "}"')
        return ms

    rule("label_match_list", "label_match_list error", match_list_error)

    def matcher(label: Item, op: Item, value: Item) -> Matcher | None:
        text = string_value(value.val)
        kind = {
            "EQL": MatchType.EQUAL,
            "NEQ": MatchType.NOT_EQUAL,
            "EQL_REGEX": MatchType.REGEX,
            "NEQ_REGEX": MatchType.NOT_REGEX,
        }[op.typ]
        try:
            return Matcher(kind, label.val, text)
        except ValidationError:
            p.error(label.pos, value.end, go_regex_error(text))
            return None

    def matcher_error(expected: str) -> Callable[..., None]:
        def act(*_: Any) -> None:
            p.unexpected("label matching", expected)

        return act

    rule("label_matcher", "IDENTIFIER match_op STRING", matcher)
    rule("label_matcher", "string_identifier match_op STRING", matcher)
    rule(
        "label_matcher",
        "string_identifier",
        lambda item: Matcher(MatchType.EQUAL, "__name__", item.val),
    )
    rule("label_matcher", "string_identifier match_op error", matcher_error("string"))
    rule("label_matcher", "IDENTIFIER match_op error", matcher_error("string"))
    rule("label_matcher", "IDENTIFIER error", matcher_error("label matching operator"))
    rule("label_matcher", "error", matcher_error('identifier or "}"'))

    # metrics (series selectors of the other start symbols; kept for the tables)
    rule("metric", "metric_identifier label_set")
    rule("metric", "label_set")
    for tok in METRIC_IDENTIFIERS:
        rule("metric_identifier", tok)
    rule("label_set", "LEFT_BRACE label_set_list RIGHT_BRACE")
    rule("label_set", "LEFT_BRACE label_set_list COMMA RIGHT_BRACE")
    rule("label_set", "LEFT_BRACE RIGHT_BRACE")
    rule("label_set", "", lambda: None)
    rule("label_set_list", "label_set_list COMMA label_set_item")
    rule("label_set_list", "label_set_item")
    rule("label_set_list", "label_set_list error")
    for alt in (
        "IDENTIFIER EQL STRING",
        "string_identifier EQL STRING",
        "string_identifier",
        "IDENTIFIER EQL error",
        "string_identifier EQL error",
        "IDENTIFIER error",
        "error",
    ):
        rule("label_set_item", alt)
    for tok in AGGREGATE_OPS:
        rule("aggregate_op", tok)
    for tok in MAYBE_LABELS:
        rule("maybe_label", tok)
    rule("unary_op", "ADD")
    rule("unary_op", "SUB")
    for tok in ("EQL", "NEQ", "EQL_REGEX", "NEQ_REGEX"):
        rule("match_op", tok)

    # literals
    def duration_seconds(item: Item) -> float:
        try:
            return parse_duration_ns(item.val) / 1e9
        except ValueError as err:
            p.error(item.pos, item.end, str(err))
            return 0.0

    rule(
        "number_duration_literal",
        "NUMBER",
        lambda item: n.Num(p.number(item.val), item.pos, item.end),
    )
    rule(
        "number_duration_literal",
        "DURATION",
        lambda item: n.Num(duration_seconds(item), item.pos, item.end, duration=True),
    )
    rule("number", "NUMBER", lambda item: p.number(item.val))
    rule("number", "DURATION", duration_seconds)
    rule("signed_number", "ADD number", lambda _, v: v)
    rule("signed_number", "SUB number", lambda _, v: -v)
    rule("signed_or_unsigned_number", "number")
    rule("signed_or_unsigned_number", "signed_number")
    rule("string_literal", "STRING", lambda item: n.Str(string_value(item.val), item.pos, item.end))
    rule(
        "string_identifier",
        "STRING",
        lambda item: Item("METRIC_IDENTIFIER", item.pos, string_value(item.val)),
    )
    rule("maybe_grouping_labels", "", lambda: None)
    rule("maybe_grouping_labels", "grouping_labels")

    declare_durations(p, rule)


def _go_f(x: float) -> str:
    """Go's %f."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return f"{x:f}"
