"""The duration parts of Prometheus' grammar: literals and duration expressions.

``parse_duration_ns`` is prometheus/common's ``model.ParseDuration``; the rules are the last
ones of ``generated_parser.y`` (``offset_duration_expr`` .. ``paren_duration_expr``), which
build duration expressions: experimental in Prometheus and not enabled, so each reports
``experimental duration expression is not enabled`` where Prometheus does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kubeprom.promql.syntax import nodes as n
from kubeprom.promql.syntax.lex import Item, go_quote

if TYPE_CHECKING:
    from kubeprom.promql.syntax.grammar import Context

_DURATION_UNITS_NS = {
    "ms": (7, 10**6),
    "s": (6, 10**9),
    "m": (5, 60 * 10**9),
    "h": (4, 3600 * 10**9),
    "d": (3, 86400 * 10**9),
    "w": (2, 7 * 86400 * 10**9),
    "y": (1, 365 * 86400 * 10**9),
}


def parse_duration_ns(text: str) -> int:
    """prometheus/common model.ParseDuration; ValueError with its message."""
    if text == "0":
        return 0
    if text == "":
        raise ValueError("empty duration string")
    s = text
    total = 0
    last = 0
    while s:
        i = 0
        while i < len(s) and s[i].isdigit():
            i += 1
        if i == 0:
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        v = int(s[:i])
        if v >= 2**64:
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        s = s[i:]
        j = 0
        while j < len(s) and not s[j].isdigit():
            j += 1
        if j == 0:
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        unit = s[:j]
        s = s[j:]
        if unit not in _DURATION_UNITS_NS:
            raise ValueError(f"unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        pos, mult = _DURATION_UNITS_NS[unit]
        if pos <= last:
            raise ValueError(f"not a valid duration string: {go_quote(text)}")
        last = pos
        if v > (1 << 63) // mult:
            raise ValueError("duration out of range")
        total += v * mult
        if total > (1 << 63) - 1:
            raise ValueError("duration out of range")
    return total


def _out_of_range(seconds: float) -> bool:
    return seconds > (1 << 63) / 1e9 or seconds < -(1 << 63) / 1e9


def declare_durations(p: Context, rule: Callable[..., None]) -> None:
    """Declare the duration-expression rules, in the file's order, through ``rule``."""

    def experimental(e: n.Node) -> None:
        p.error(e.start, e.end, "experimental duration expression is not enabled")

    def duration_literal(e: n.Num) -> n.Node:
        if _out_of_range(e.val):
            p.error(e.start, e.end, "duration out of range")
            return n.Num(0.0, 0, 0)
        return e

    def signed_literal(op: Item, e: n.Num) -> n.Node:
        if op.typ == "SUB":
            e.val = -e.val
        if _out_of_range(e.val):
            p.error(op.pos, op.end, "duration out of range")
            return n.Num(0.0, 0, 0)
        e.pos = op.pos
        return e

    def keyword_call(kw: Item, _: Item, close: Item) -> n.Node:
        d = n.Duration(kw.typ, start_pos=kw.pos, end_pos=close.end)
        experimental(d)
        return d

    def signed_keyword_call(op: Item, kw: Item, _: Item, close: Item) -> n.Node:
        d = n.Duration(
            op.typ, rhs=n.Duration(kw.typ, start_pos=kw.pos, end_pos=close.end), start_pos=op.pos
        )
        experimental(d)
        return d

    def min_max(kw: Item, _: Item, a: n.Node, __: Item, b: n.Node, close: Item) -> n.Node:
        d = n.Duration(kw.typ, lhs=a, rhs=b, start_pos=kw.pos, end_pos=close.end)
        experimental(d)
        return d

    def signed_min_max(
        op: Item, kw: Item, _: Item, a: n.Node, __: Item, b: n.Node, close: Item
    ) -> n.Node:
        # Prometheus' action reads $6 (the comma's successor) for the right side and end.
        d = n.Duration(
            op.typ, rhs=n.Duration(kw.typ, lhs=a, rhs=b, start_pos=kw.pos), start_pos=op.pos
        )
        experimental(d)
        return d

    def apply_unary(op: Item, e: n.Node, *, wrapped: bool) -> n.Node:
        if isinstance(e, n.Duration):
            return n.Duration("SUB", rhs=e, start_pos=op.pos) if op.typ == "SUB" else e
        if isinstance(e, n.Num):
            if wrapped:
                return n.Duration("SUB" if op.typ == "SUB" else "ADD", rhs=e, start_pos=op.pos)
            if op.typ == "SUB":
                e.val = -e.val
            if _out_of_range(e.val):
                p.error(op.pos, op.end, "duration out of range")
                return n.Num(0.0, 0, 0)
            e.pos = op.pos
            return e
        p.error(op.pos, op.end, "expected number literal or duration expression")
        return n.Num(0.0, 0, 0)

    rule("offset_duration_expr", "number_duration_literal", duration_literal)
    rule("offset_duration_expr", "unary_op number_duration_literal", signed_literal)
    rule("offset_duration_expr", "STEP LEFT_PAREN RIGHT_PAREN", keyword_call)
    rule("offset_duration_expr", "RANGE LEFT_PAREN RIGHT_PAREN", keyword_call)
    rule("offset_duration_expr", "unary_op STEP LEFT_PAREN RIGHT_PAREN", signed_keyword_call)
    rule("offset_duration_expr", "unary_op RANGE LEFT_PAREN RIGHT_PAREN", signed_keyword_call)
    rule(
        "offset_duration_expr",
        "max_of_min_of LEFT_PAREN duration_expr COMMA duration_expr RIGHT_PAREN",
        min_max,
    )
    rule(
        "offset_duration_expr",
        "unary_op max_of_min_of LEFT_PAREN duration_expr COMMA duration_expr RIGHT_PAREN",
        signed_min_max,
    )
    rule(
        "offset_duration_expr",
        "unary_op LEFT_PAREN duration_expr RIGHT_PAREN",
        lambda op, _, e, __: apply_unary(op, wrap_paren(e), wrapped=True),
        prec="MUL",
    )
    rule("offset_duration_expr", "duration_expr")
    rule("max_of_min_of", "MAX_OF")
    rule("max_of_min_of", "MIN_OF")
    rule("duration_expr", "number_duration_literal", duration_literal)
    rule(
        "duration_expr",
        "unary_op duration_expr",
        lambda op, e: apply_unary(op, e, wrapped=False),
        prec="MUL",
    )

    def duration_binary(a: n.Node, op: Item, b: n.Node) -> n.Node:
        experimental(a)
        if op.typ in ("DIV", "MOD") and isinstance(b, n.Num) and b.val == 0:
            word = "division" if op.typ == "DIV" else "modulo"
            p.error(op.pos, op.end, f"{word} by zero")
            return n.Num(0.0, 0, 0)
        return n.Duration(op.typ, lhs=a, rhs=b)

    for op in ("ADD", "SUB", "MUL", "DIV", "MOD", "POW"):
        rule("duration_expr", f"duration_expr {op} duration_expr", duration_binary)
    rule("duration_expr", "STEP LEFT_PAREN RIGHT_PAREN", keyword_call)
    rule("duration_expr", "RANGE LEFT_PAREN RIGHT_PAREN", keyword_call)
    rule(
        "duration_expr",
        "max_of_min_of LEFT_PAREN duration_expr COMMA duration_expr RIGHT_PAREN",
        min_max,
    )
    rule("duration_expr", "paren_duration_expr")

    def wrap_paren(e: n.Node) -> n.Node:
        return e if isinstance(e, n.Duration) else n.Duration("ADD", rhs=e)

    def paren_duration(o: Item, e: n.Node, c: Item) -> n.Node:
        experimental(e)
        if isinstance(e, n.Duration):
            return e
        return n.Duration("ADD", rhs=e, start_pos=o.pos, end_pos=c.end)

    rule("paren_duration_expr", "LEFT_PAREN duration_expr RIGHT_PAREN", paren_duration)
