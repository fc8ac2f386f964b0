"""Parse a PromQL query with promql-parser into the evaluator's tree (``kubeprom.promql.ast``).

Errors become :class:`kubeprom.errors.ParseError` with Prometheus' rendering
(``1:15: parse error: ...``). promql-parser reports neither node positions nor error
positions, so both are recovered from a token stream of the query (``lexer.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import promql_parser as pp

from kubeprom.errors import ParseError, ValidationError
from kubeprom.model.matchers import Matcher, MatchType
from kubeprom.promql import ast, limits, syntax
from kubeprom.promql.lexer import (
    PRECEDENCE,
    Token,
    is_operand_end,
    matching_close,
    string_value,
    tokenize,
    top_level,
)
from kubeprom.promql.parse_cache import ParseCache, entry_bytes

_MATCH_OPS = {
    "MatchOp.Equal": MatchType.EQUAL,
    "MatchOp.NotEqual": MatchType.NOT_EQUAL,
    "MatchOp.Re": MatchType.REGEX,
    "MatchOp.NotRe": MatchType.NOT_REGEX,
}
_VALUE_TYPES = {
    "ValueType.Vector": ast.ValueType.VECTOR,
    "ValueType.Scalar": ast.ValueType.SCALAR,
    "ValueType.Matrix": ast.ValueType.MATRIX,
    "ValueType.String": ast.ValueType.STRING,
}
_CARDS = {
    "VectorMatchCardinality.OneToOne": ast.Card.ONE_TO_ONE,
    "VectorMatchCardinality.ManyToOne": ast.Card.MANY_TO_ONE,
    "VectorMatchCardinality.OneToMany": ast.Card.ONE_TO_MANY,
    "VectorMatchCardinality.ManyToMany": ast.Card.MANY_TO_MANY,
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


PARSE_CACHE_BYTES = 64 << 20
"""Bytes of query text and trees the parse cache may hold (see parse_cache.entry_bytes)."""
PARSE_CACHE_ENTRIES = 4096

CACHE = ParseCache(PARSE_CACHE_BYTES, PARSE_CACHE_ENTRIES)
"""The process' parse cache: trees are immutable and the same for every caller."""


def parse(query: str) -> ast.Expr:
    """The tree of ``query``; raises :class:`ParseError` with the position of the problem.

    The query's size and nesting are checked first (``limits.check``), so no parser ever
    recurses past ``limits.MAX_DEPTH``; then Prometheus' own syntax and type checks
    (``syntax.first_error``) give its error, word for word and position, for a query it
    rejects; promql-parser builds the tree of a query that passes.
    """
    tree = CACHE.get(query)
    if tree is not None:
        return tree
    limits.check(query)
    problem = syntax.first_error(query)
    if problem is not None:
        message, start, end = problem
        raise ParseError(message, query=query, start=start, end=end)
    tokens = tokenize(query)
    try:
        native = pp.parse(parser_text(query))
    except ValueError as err:
        message, start = _explain(str(err), query)
        raise ParseError(message, query=query, start=start, end=start) from err
    conv = _Converter(query, tokens)
    try:
        tree = conv.expr(native, 0, len(conv.tokens))
    except ValidationError as err:
        raise ParseError(str(err), query=query, start=0, end=len(query)) from err
    CACHE.put(query, tree, entry_bytes(query, len(tokens)))
    return tree


_RAW_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def parser_text(query: str) -> str:
    """``query`` as promql-parser can read it: raw (backtick) strings become quoted ones,
    comments become spaces.

    Prometheus takes a raw string's text as is, backslashes included (``\\.`` in a regex);
    promql-parser reads escapes inside backticks too and rejects ``\\.``. Prometheus also
    skips a comment anywhere, inside a range's brackets included, where promql-parser
    fails. The token stream finds both, so a backtick or ``#`` inside a quoted string is
    left alone. Offsets shift, which is harmless: positions are recovered from the
    original text.
    """
    if "`" not in query and "#" not in query:
        return query
    parts: list[str] = []
    done = 0
    for tok in tokenize(query):
        if tok.kind == "str" and tok.text.startswith("`"):
            parts += [query[done : tok.start], '"', tok.text[1:-1].translate(_RAW_ESCAPES), '"']
            done = tok.end
    parts.append(query[done:])
    text = "".join(parts)
    if "#" not in text:
        return text
    return "".join(
        " " * len(m.group()) if m.group().startswith("#") else m.group()
        for m in _COMMENTS.finditer(text)
    )


# Strings (kept) or comments (blanked); everything else passes through.
_COMMENTS = re.compile(
    r"""("[^"\\]*(?:\\.[^"\\]*)*"|'[^'\\]*(?:\\.[^'\\]*)*'|#[^\n]*|[^"'#]+|["'])"""
)


def _td_ms(td: dt.timedelta) -> int:
    return (td.days * 86_400 + td.seconds) * 1000 + td.microseconds // 1000


class _Converter:
    """Converts promql-parser nodes, assigning each the token range it was parsed from.

    Position recovery is best effort: when the tokens do not line up with the expected
    shape of a node, the node gets its parent's range rather than failing the parse.
    """

    def __init__(self, query: str, tokens: list[Token]) -> None:
        self.query = query
        self.tokens = tokens

    def pos(self, lo: int, hi: int) -> ast.Pos:
        if lo >= hi or hi > len(self.tokens):
            return ast.Pos(0, len(self.query))
        return ast.Pos(self.tokens[lo].start, self.tokens[hi - 1].end)

    def text(self, i: int) -> str:
        return self.tokens[i].text if 0 <= i < len(self.tokens) else ""

    def expr(self, node: Any, lo: int, hi: int) -> ast.Expr:
        pos = self.pos(lo, hi)
        kind = type(node).__name__
        if kind == "NumberLiteral":
            return ast.NumberLit(float(node.val), pos=pos)
        if kind == "StringLiteral":
            # Go strings are bytes: re-read the literal so "\xff" stays an invalid byte.
            if hi - lo == 1 and self.tokens[lo].kind == "str":
                return ast.StringLit(string_value(self.tokens[lo].text), pos=pos)
            return ast.StringLit(str(node.val), pos=pos)
        if kind == "VectorSelector":
            return self.vector_selector(node, lo, hi)
        if kind == "MatrixSelector":
            bracket = self.find_top(lo, hi, "[", last=False)
            inner_hi = bracket if bracket > lo else hi
            vs = self.vector_selector(node.vector_selector, lo, hi, pos_hi=inner_hi)
            return ast.MatrixSel(vs, _td_ms(node.range), pos=pos)
        if kind == "SubqueryExpr":
            bracket = self.find_top(lo, hi, "[", last=True)
            inner_hi = bracket if bracket > lo else hi
            inner = self.expr(node.expr, lo, inner_hi)
            step = _td_ms(node.step) if node.step is not None else 0
            offset = _td_ms(node.offset) if node.offset is not None else 0
            at = self.at_modifier(node.at, bracket if bracket > lo else lo, hi)
            return ast.Subquery(inner, _td_ms(node.range), step, offset, at, pos=pos)
        if kind == "ParenExpr":
            if self.text(lo) == "(" and matching_close(self.tokens, lo, hi) == hi - 1:
                return ast.Paren(self.expr(node.expr, lo + 1, hi - 1), pos=pos)
            return ast.Paren(self.expr(node.expr, lo, hi), pos=pos)
        if kind == "UnaryExpr":
            inner_lo = lo + 1 if self.text(lo) in ("-", "+") else lo
            return ast.Unary("-", self.expr(node.expr, inner_lo, hi), pos=pos)
        if kind == "Call":
            return self.call(node, lo, hi)
        if kind == "AggregateExpr":
            return self.aggregate(node, lo, hi)
        if kind == "BinaryExpr":
            return self.binary(node, lo, hi)
        raise ParseError(f"unsupported expression {kind}", query=self.query, start=0)

    def find_top(self, lo: int, hi: int, text: str, *, last: bool) -> int:
        hits = [i for i in top_level(self.tokens, lo, hi) if self.tokens[i].text == text]
        if not hits:
            return -1
        return hits[-1] if last else hits[0]

    def vector_selector(
        self, node: Any, lo: int, hi: int, pos_hi: int | None = None
    ) -> ast.VectorSel:
        matchers: list[Matcher] = []
        if node.name is not None:
            matchers.append(Matcher(MatchType.EQUAL, "__name__", node.name))
        for m in node.matchers.matchers:
            matchers.append(Matcher(_MATCH_OPS[str(m.op)], m.name, m.value))
        if node.matchers.or_matchers:
            raise ParseError(
                "'or' inside label matchers is not supported", query=self.query, start=0
            )
        offset = _td_ms(node.offset) if node.offset is not None else 0
        at = self.at_modifier(node.at, lo, hi)
        return ast.VectorSel(node.name, tuple(matchers), offset, at, pos=self.pos(lo, pos_hi or hi))

    def at_modifier(self, at: Any, lo: int, hi: int) -> ast.At | None:
        if at is None:
            return None
        kind = str(at.type)
        if kind.endswith("Start"):
            return ast.At(ast.AtKind.START)
        if kind.endswith("End"):
            return ast.At(ast.AtKind.END)
        # Read the timestamp from the source: promql-parser cannot convert a negative one.
        ats = [i for i in top_level(self.tokens, lo, hi) if self.tokens[i].text == "@"]
        if ats:
            i = ats[-1] + 1
            sign = 1.0
            while self.text(i) in ("-", "+"):
                sign = -sign if self.text(i) == "-" else sign
                i += 1
            if i < len(self.tokens) and self.tokens[i].kind == "num":
                seconds = sign * _number(self.tokens[i].text)
                return ast.At(ast.AtKind.AT, round(seconds * 1000))
        when: dt.datetime = at.at
        return ast.At(ast.AtKind.AT, _td_ms(when - _EPOCH))

    def call(self, node: Any, lo: int, hi: int) -> ast.Call:
        name = str(node.func.name)
        spans = self.arg_spans(lo + 1, hi) if self.text(lo + 1) == "(" else None
        args = []
        for i, arg in enumerate(node.args):
            a_lo, a_hi = spans[i] if spans is not None and i < len(spans) else (lo, hi)
            args.append(self.expr(arg, a_lo, a_hi))
        rtype = _VALUE_TYPES[str(node.func.return_type)]
        return ast.Call(name, tuple(args), rtype, pos=self.pos(lo, hi))

    def arg_spans(self, open_i: int, hi: int) -> list[tuple[int, int]] | None:
        """Token ranges of the comma-separated items inside the bracket at ``open_i``."""
        close = matching_close(self.tokens, open_i, hi)
        if close < 0:
            return None
        commas = [
            i for i in top_level(self.tokens, open_i + 1, close) if self.tokens[i].text == ","
        ]
        bounds = [open_i, *commas, close]
        return [(bounds[k] + 1, bounds[k + 1]) for k in range(len(bounds) - 1)]

    def aggregate(self, node: Any, lo: int, hi: int) -> ast.Aggregate:
        op = str(node.op).lower()
        i = lo + 1
        if self.text(i).lower() in ("by", "without") and self.text(i + 1) == "(":
            i = matching_close(self.tokens, i + 1, hi) + 1
        spans = self.arg_spans(i, hi) if self.text(i) == "(" else None
        param = None
        if node.param is not None:
            p_lo, p_hi = spans[0] if spans and len(spans) == 2 else (lo, hi)
            param = self.expr(node.param, p_lo, p_hi)
        e_lo, e_hi = spans[-1] if spans else (lo, hi)
        inner = self.expr(node.expr, e_lo, e_hi)
        grouping: tuple[str, ...] = ()
        without = False
        if node.modifier is not None:
            grouping = tuple(node.modifier.labels)
            without = str(node.modifier.type).endswith("Without")
        return ast.Aggregate(op, inner, param, grouping, without, pos=self.pos(lo, hi))

    def binary(self, node: Any, lo: int, hi: int) -> ast.Binary:
        op = str(node.op).lower()
        k = self.find_operator(op, lo, hi)
        if k < 0:
            lhs, rhs = self.expr(node.lhs, lo, hi), self.expr(node.rhs, lo, hi)
        else:
            lhs = self.expr(node.lhs, lo, k)
            rhs = self.expr(node.rhs, self.skip_modifiers(k + 1, hi), hi)
        matching = None
        return_bool = False
        mod = node.modifier
        if mod is not None:
            return_bool = bool(mod.return_bool)
            card = _CARDS[str(mod.card)]
            on = False
            labels: tuple[str, ...] = ()
            if mod.matching is not None:
                on = str(mod.matching.type).endswith("Include")
                labels = tuple(mod.matching.labels)
            include = tuple(mod.group_labels or ())
            fill = mod.fill_values
            fill_lhs = fill.lhs if fill is not None else None
            fill_rhs = fill.rhs if fill is not None else None
            matching = ast.VectorMatching(card, on, labels, include, fill_lhs, fill_rhs)
        both_vectors = lhs.type is ast.ValueType.VECTOR and rhs.type is ast.ValueType.VECTOR
        if matching is None and both_vectors:
            card = ast.Card.MANY_TO_MANY if op in ast.SET_OPS else ast.Card.ONE_TO_ONE
            matching = ast.VectorMatching(card, False, ())
        return ast.Binary(op, lhs, rhs, matching, return_bool, pos=self.pos(lo, hi))

    def find_operator(self, op: str, lo: int, hi: int) -> int:
        level = PRECEDENCE.get(op)
        hits = []
        for i in top_level(self.tokens, lo, hi):
            tok = self.tokens[i]
            text = tok.text.lower() if tok.kind == "ident" else tok.text
            if tok.kind not in ("op", "ident") or PRECEDENCE.get(text) != level:
                continue
            if i > lo and is_operand_end(self.tokens[i - 1]):
                hits.append((i, text))
        if not hits:
            return -1
        i, text = hits[0] if op == "^" else hits[-1]
        return i if text == op else -1

    def skip_modifiers(self, i: int, hi: int) -> int:
        while i < hi:
            word = self.text(i).lower()
            if word == "bool":
                i += 1
            elif word in ("on", "ignoring", "fill", "fill_left", "fill_right") or (
                word in ("group_left", "group_right") and self.text(i + 1) == "("
            ):
                close = matching_close(self.tokens, i + 1, hi)
                if close < 0:
                    return i
                i = close + 1
            elif word in ("group_left", "group_right"):
                i += 1
            else:
                return i
        return i


def _number(text: str) -> float:
    if text.lower().startswith("0x"):
        return float(int(text, 16))
    return float(text)


# promql-parser's wording -> Prometheus' wording.
_TYPE_WORDS = {"matrix": "range vector", "vector": "instant vector"}
_TYPE_ERROR = re.compile(r"expected type (\w+) in call to function '([^']*)', got (\w+)")
_UNKNOWN_FUNC = re.compile(r"unknown function with name '([^']*)'")


def _explain(message: str, query: str) -> tuple[str, int]:
    """Prometheus' wording of a promql-parser error, and the offset it points at."""
    tokens = tokenize(query)
    m = _TYPE_ERROR.search(message)
    if m:
        want, func, got = m.groups()
        text = (
            f"expected type {_TYPE_WORDS.get(want, want)} in call to function {func!s}, "
            f"got {_TYPE_WORDS.get(got, got)}"
        ).replace(f"function {func}", f'function "{func}"')
        return text, _call_arg_offset(tokens, func, len(query))
    m = _UNKNOWN_FUNC.search(message)
    if m:
        name = m.group(1)
        hit = next((t.start for t in tokens if t.kind == "ident" and t.text == name), 0)
        return f'unknown function with name "{name}"', hit
    text = re.sub(r"'([^']*)'", r'"\1"', message)
    if "unclosed left parenthesis" in message:
        return text, _unclosed(tokens, len(query))
    if "unexpected right parenthesis" in message:
        return text, _unexpected_close(tokens)
    if "end of input" in message:
        return text, len(query)
    if "unexpected character" in message:
        ch = message.rsplit(":", 1)[-1].strip().strip("'\"")
        return text, max(query.find(ch), 0) if ch else 0
    m = re.search(r"call to '([^']*)'", message)
    if m:
        return text, _call_arg_offset(tokens, m.group(1), len(query))
    bad = next((t.start for t in tokens if t.kind == "bad"), None)
    if bad is not None:
        return text, bad
    return text, _first_misplaced(tokens, len(query))


def _call_arg_offset(tokens: list[Token], func: str, default: int) -> int:
    for i, t in enumerate(tokens[:-1]):
        if t.text == func and tokens[i + 1].text == "(":
            return tokens[i + 2].start if i + 2 < len(tokens) else tokens[i + 1].end
    return default


def _unclosed(tokens: list[Token], default: int) -> int:
    stack = []
    for t in tokens:
        if t.text == "(":
            stack.append(t.start)
        elif t.text == ")" and stack:
            stack.pop()
    return stack[-1] if stack else default


def _unexpected_close(tokens: list[Token]) -> int:
    depth = 0
    for t in tokens:
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
            if depth < 0:
                return t.start
    return 0


def _first_misplaced(tokens: list[Token], end: int) -> int:
    """The first token that cannot follow its predecessor (two operators in a row, an
    operand right after an operand), or the end of the query when it stops after an
    operator; ``0`` when no such token is found."""
    binary = set(PRECEDENCE)
    for i in range(1, len(tokens)):
        prev, tok = tokens[i - 1], tokens[i]
        prev_is_op = prev.kind == "op" and prev.text in binary
        if prev_is_op and tok.kind == "op" and tok.text in binary and tok.text not in "-+":
            return tok.start
        after_paren = prev.kind == "op" and prev.text == ")"
        keyword = tok.text.lower() in ("by", "without", "offset", "and", "or", "unless")
        if after_paren and tok.kind in ("ident", "num", "str") and not keyword:
            return tok.start
    if tokens and tokens[-1].kind == "op" and tokens[-1].text in binary:
        return end
    return 0
