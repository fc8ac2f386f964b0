"""Parsing: the evaluator's tree, recovered positions, and errors as Prometheus words them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom.errors import ParseError
from kubeprom.promql import ast, parse


def spans(query: str) -> list[tuple[str, str]]:
    return [(type(n).__name__, query[n.pos.start : n.pos.end]) for n in ast.walk(parse(query))]


def test_node_positions() -> None:
    q = 'sum by (a) (rate(x_total{a="b"}[5m])) / on(a) group_left -y offset 1m'
    assert spans(q) == [
        ("Binary", q),
        ("Aggregate", 'sum by (a) (rate(x_total{a="b"}[5m]))'),
        ("Call", 'rate(x_total{a="b"}[5m])'),
        ("MatrixSel", 'x_total{a="b"}[5m]'),
        ("VectorSel", 'x_total{a="b"}'),
        ("Unary", "-y offset 1m"),
        ("VectorSel", "y offset 1m"),
    ]


def test_precedence_and_associativity_follow_the_parser() -> None:
    assert spans("a - b - c")[1] == ("Binary", "a - b")
    assert spans("a ^ b ^ c")[2] == ("Binary", "b ^ c")
    assert spans("-a ^ 2")[:2] == [("Unary", "-a ^ 2"), ("Binary", "a ^ 2")]


def test_modifiers() -> None:
    e = parse("x @ -100.5 offset -1m")
    assert isinstance(e, ast.VectorSel)
    assert e.at == ast.At(ast.AtKind.AT, -100_500)
    assert e.offset_ms == -60_000
    sq = parse("max_over_time(x[5m:] @ end())")
    assert isinstance(sq, ast.Call)
    sub = sq.args[0]
    assert isinstance(sub, ast.Subquery)
    assert (sub.range_ms, sub.step_ms, sub.at) == (300_000, 0, ast.At(ast.AtKind.END))


def test_string_literals_keep_go_byte_semantics() -> None:
    e = parse('label_replace(x, "\\xff", "", "a", "b")')
    assert isinstance(e, ast.Call)
    dst = e.args[1]
    assert isinstance(dst, ast.StringLit)
    with pytest.raises(UnicodeEncodeError):
        dst.value.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.text("abc(){}[]+-*/ ,=~\"'0123456789smh@:", max_size=25))
def test_parse_error_positions_are_inside_the_input(query: str) -> None:
    err: ParseError | None = None
    try:
        parse(query)
    except ParseError as caught:
        err = caught
    if err is not None:
        assert 0 <= err.start <= len(query)
        assert str(err).split(": parse error: ")[0].count(":") == 1


@pytest.mark.parametrize(
    ("query", "value"),
    [
        ("up{instance=~`10\\.0\\.0\\.4:9100`}", "10\\.0\\.0\\.4:9100"),
        ("up{a=`\\`}", "\\"),
        ('up{a=`say "hi"\\n`}', 'say "hi"\\n'),
        ("up{a=`two\nlines`}", "two\nlines"),
        ('up{a="`\\\\d`", b=`\\d`}', None),
    ],
    ids=["regex-dots", "lone-backslash", "quotes-and-backslash-n", "newline", "backtick-in-quoted"],
)
def test_raw_strings_keep_backslashes(query: str, value: str | None) -> None:
    e = parse(query)
    assert isinstance(e, ast.VectorSel)
    got = {m.name: m.value for m in e.matchers}
    if value is None:  # a backtick inside a quoted string is no raw string
        assert got == {"__name__": "up", "a": "`\\d`", "b": "\\d"}
    else:
        assert got["a" if "a=" in query else "instance"] == value


def test_raw_string_arguments_keep_backslashes() -> None:
    e = parse('label_replace(up, "a", "$1", "b", `(.*)\\d+`)')
    assert isinstance(e, ast.Call)
    regex = e.args[4]
    assert isinstance(regex, ast.StringLit)
    assert regex.value == "(.*)\\d+"
