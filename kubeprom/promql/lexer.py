"""A small PromQL tokenizer, used only to recover source positions.

promql-parser builds the tree but reports no positions, neither on nodes nor in its error
messages. Prometheus puts positions in both (annotations end in ``(line:col)``, parse errors
start with ``line:col:``), so ``parse.py`` walks this token stream beside the tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<str>"[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*'|`[^`]*`)
  | (?P<dur>\d+(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*(?![a-zA-Z0-9_:]))
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=(){}\[\],:@])
    """,
    re.VERBOSE | re.DOTALL,
)

KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "atan2",
        "fill",
        "fill_left",
        "fill_right",
    }
)
OPEN = frozenset({"(", "[", "{"})
CLOSE = frozenset({")", "]", "}"})

# Binary operator precedence, lowest first (Prometheus' parser grammar).
PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    "==": 3,
    "!=": 3,
    ">": 3,
    "<": 3,
    ">=": 3,
    "<=": 3,
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # str | dur | num | ident | op | bad
    text: str
    start: int
    end: int


def tokenize(query: str) -> list[Token]:
    """Tokens of ``query``; an unknown character becomes a one-character ``bad`` token."""
    out: list[Token] = []
    i = 0
    n = len(query)
    while i < n:
        m = _TOKEN_RE.match(query, i)
        if m is None or m.end() == i:
            out.append(Token("bad", query[i], i, i + 1))
            i += 1
            continue
        kind = m.lastgroup or "bad"
        if kind != "ws":
            out.append(Token(kind, m.group(), i, m.end()))
        i = m.end()
    return out


def is_operand_end(tok: Token) -> bool:
    """Whether a token can end an operand, so that a following ``-`` is binary."""
    if tok.kind in ("str", "num", "dur"):
        return True
    if tok.kind == "ident":
        return tok.text.lower() not in KEYWORDS
    return tok.text in CLOSE


def matching_close(tokens: list[Token], i: int, hi: int) -> int:
    """Index of the bracket closing ``tokens[i]``, or ``-1``."""
    depth = 0
    for j in range(i, hi):
        t = tokens[j].text
        if tokens[j].kind == "op" and t in OPEN:
            depth += 1
        elif tokens[j].kind == "op" and t in CLOSE:
            depth -= 1
            if depth == 0:
                return j
    return -1


def top_level(tokens: list[Token], lo: int, hi: int) -> list[int]:
    """Indices in ``[lo, hi)`` that sit outside every bracket of that range."""
    out = []
    depth = 0
    for j in range(lo, hi):
        tok = tokens[j]
        if tok.kind == "op" and tok.text in CLOSE:
            depth -= 1
            continue
        if depth == 0:
            out.append(j)
        if tok.kind == "op" and tok.text in OPEN:
            depth += 1
    return out


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def unescape(body: str) -> str:
    """Go string-literal escapes; ``\\xNN`` bytes that are not UTF-8 survive as surrogates."""
    if "\\" not in body:
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt].encode()
            i += 2
        elif nxt == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif nxt in "uU":
            width = 4 if nxt == "u" else 8
            out += chr(int(body[i + 2 : i + 2 + width], 16)).encode("utf-8")
            i += 2 + width
        elif nxt in "01234567":
            out.append(int(body[i + 1 : i + 4], 8))
            i += 4
        else:
            out += nxt.encode("utf-8", "surrogateescape")
            i += 2
    return out.decode("utf-8", "surrogateescape")


def string_value(token_text: str) -> str:
    """The value of a PromQL string literal token (quotes removed, escapes applied)."""
    if token_text.startswith("`"):
        return token_text[1:-1]
    return unescape(token_text[1:-1])
