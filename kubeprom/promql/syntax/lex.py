"""Prometheus 3.x's PromQL lexer (``promql/parser/lex.go``), for its errors and positions.

A state machine over the query's characters that yields :class:`Item` values: a token type
(the grammar's terminal names: ``IDENTIFIER``, ``LEFT_PAREN``, ``DURATION`` ...), its
offset and its text. It stops after ``EOF`` or after an ``ERROR`` item, whose text is the
message Prometheus reports (``unclosed left parenthesis``, ``bad number or duration syntax:
"5mm"``). Series descriptions (promqltest's ``load`` syntax) are not lexed here.

Offsets are character offsets into the query; ``errors.ParseError`` renders them as
Prometheus does (byte columns).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

EOF_RUNE = ""

# Keywords (lower-cased text -> token type), as lex.go's ``key`` map.
KEYWORDS = {
    "and": "LAND", "or": "LOR", "unless": "LUNLESS", "atan2": "ATAN2",
    "sum": "SUM", "avg": "AVG", "count": "COUNT", "min": "MIN", "max": "MAX", "group": "GROUP",
    "stddev": "STDDEV", "stdvar": "STDVAR", "topk": "TOPK", "bottomk": "BOTTOMK",
    "count_values": "COUNT_VALUES", "quantile": "QUANTILE", "limitk": "LIMITK",
    "limit_ratio": "LIMIT_RATIO",
    "offset": "OFFSET", "smoothed": "SMOOTHED", "anchored": "ANCHORED", "by": "BY",
    "without": "WITHOUT", "on": "ON", "ignoring": "IGNORING", "group_left": "GROUP_LEFT",
    "group_right": "GROUP_RIGHT", "fill": "FILL", "fill_left": "FILL_LEFT",
    "fill_right": "FILL_RIGHT", "bool": "BOOL",
    "start": "START", "end": "END", "step": "STEP", "range": "RANGE", "max_of": "MAX_OF",
    "min_of": "MIN_OF",
    "inf": "NUMBER", "nan": "NUMBER",
}  # fmt: skip
_DURATION_KEYWORDS = {"step": "STEP", "range": "RANGE", "max_of": "MAX_OF", "min_of": "MIN_OF"}
_FILLS = ("FILL", "FILL_LEFT", "FILL_RIGHT")

# ItemTypeStr: how the parser names a token with a fixed spelling in its errors.
FIXED = {
    "LEFT_PAREN": "(", "RIGHT_PAREN": ")", "LEFT_BRACE": "{", "RIGHT_BRACE": "}",
    "LEFT_BRACKET": "[", "RIGHT_BRACKET": "]", "COMMA": ",", "EQL": "=", "COLON": ":",
    "SEMICOLON": ";", "BLANK": "_", "TIMES": "x", "SPACE": "<space>", "SUB": "-", "ADD": "+",
    "MUL": "*", "MOD": "%", "DIV": "/", "EQLC": "==", "NEQ": "!=", "LTE": "<=", "LSS": "<",
    "GTE": ">=", "GTR": ">", "TRIM_UPPER": "</", "TRIM_LOWER": ">/", "EQL_REGEX": "=~",
    "NEQ_REGEX": "!~", "POW": "^", "AT": "@",
    **{typ: word for word, typ in KEYWORDS.items() if typ != "NUMBER"},
}  # fmt: skip
OPERATORS = frozenset(
    [
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
    ]
)
AGGREGATORS = frozenset(
    [
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
)
_KEYWORD_TYPES = frozenset(
    [
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
    ]
)
_TYPE_DESC = {
    "ERROR": "error", "EOF": "end of input", "COMMENT": "comment", "IDENTIFIER": "identifier",
    "METRIC_IDENTIFIER": "metric identifier", "STRING": "string", "NUMBER": "number",
    "DURATION": "duration",
}  # fmt: skip


def go_quote(s: str) -> str:
    """Go's ``%q`` of a string: double quotes, Go escapes, printable runes kept."""
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif ch.isprintable():
            out.append(ch)
        elif c < 0x80:
            out.append(f"\\x{c:02x}")
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    out.append('"')
    return "".join(out)


def go_quote_rune(ch: str) -> str:
    """Go's ``%q`` of a rune: ``'x'``."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + go_quote(ch)[1:-1] + "'"


def go_unicode(ch: str) -> str:
    """Go's ``%#U`` of a rune: ``U+0071 'q'``."""
    c = ord(ch)
    text = f"U+{c:04X}"
    return f"{text} {go_quote_rune(ch)}" if ch.isprintable() else text


@dataclass(frozen=True, slots=True)
class Item:
    """One token: its type (a terminal of the grammar), offset and text."""

    typ: str
    pos: int
    val: str

    @property
    def end(self) -> int:
        return self.pos + len(self.val)

    def __str__(self) -> str:  # Item.String()
        if self.typ == "EOF":
            return "EOF"
        if self.typ == "ERROR":
            return self.val
        if self.typ in ("IDENTIFIER", "METRIC_IDENTIFIER"):
            return go_quote(self.val)
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if self.typ in OPERATORS:
            return f"<op:{self.val}>"
        if self.typ in AGGREGATORS:
            return f"<aggr:{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."  # Go's %.10q truncates the text first
        return go_quote(self.val)

    def desc(self) -> str:
        """How the parser names this token in "unexpected ..." errors."""
        if self.typ in FIXED:
            return str(self)
        if self.typ == "EOF":
            return "end of input"
        return f"{_TYPE_DESC.get(self.typ, go_quote(self.typ))} {self}"


def _is_space(r: str) -> bool:
    return r in (" ", "\t", "\n", "\r") and r != ""


def _is_alpha(r: str) -> bool:
    return r == "_" or ("a" <= r <= "z") or ("A" <= r <= "Z")


def _is_digit(r: str) -> bool:
    return "0" <= r <= "9" and r != ""


def _is_alnum(r: str) -> bool:
    return _is_alpha(r) or _is_digit(r)


State = Callable[["Lexer"], "State | None"]


class Lexer:
    """lex.go's ``Lexer``; iterate it for the items, ending with EOF or one ERROR."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.width = 0
        self.paren_depth = 0
        self.brace_open = False
        self.bracket_open = False
        self.got_colon = False
        self.got_duration = False
        self.string_open = ""
        self.pending: list[Item] = []
        self.mark = 0  # items emitted before the current state step
        self.state: State | None = _lex_statements

    def __iter__(self) -> Iterator[Item]:
        while True:
            while not self.pending:
                if self.state is None:
                    self.emit("EOF")
                    break
                self.mark = len(self.pending)
                self.state = self.state(self)
            item = self.pending.pop(0)
            yield item
            if item.typ in ("ERROR", "EOF"):
                return

    # -- lex.go's helpers --------------------------------------------------------------
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.width = 0
            return EOF_RUNE
        r = self.input[self.pos]
        self.width = 1
        self.pos += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        self.pos -= self.width

    def emit(self, typ: str) -> None:
        self.pending.append(Item(typ, self.start, self.input[self.start : self.pos]))
        self.start = self.pos

    def ignore(self) -> None:
        self.start = self.pos

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != EOF_RUNE and r in valid:
            return True
        self.backup()
        return False

    def is_(self, valid: str) -> bool:
        r = self.peek()
        return r != EOF_RUNE and r in valid

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == EOF_RUNE or r not in valid:
                break
        self.backup()

    def errorf(self, message: str) -> None:
        """An ERROR item at the start of the current token; lexing stops. Go's lexer writes
        every item of a step to one slot, so an error replaces what the step emitted."""
        del self.pending[self.mark :]
        self.pending.append(Item("ERROR", self.start, message))
        self.state = None

    def error_state(self, message: str) -> State | None:
        self.errorf(message)
        return None

    def scan_number(self) -> bool:
        initial = self.pos
        digits = "0123456789"
        if self.accept("0") and self.accept("xX"):
            self.accept("_")
            digits = "0123456789abcdefABCDEF"
        self.accept(".")
        self.accept(digits)
        dot = exponent = False
        while self.is_(digits + "._eE"):
            if self.is_(".") and dot:
                self.accept(".")
                return False
            if self.is_("eE") and exponent:
                self.accept("eE")
                return False
            if self.accept("."):
                dot = True
                if self.accept("_.") or len(digits) > 10:
                    return False
                continue
            if self.accept("eE"):
                exponent = True
                self.accept("+-")
                if self.accept("._eE") or self.peek() == EOF_RUNE:
                    return False
                continue
            if self.accept("_"):
                if self.accept("._eE") or self.peek() == EOF_RUNE:
                    return False
                continue
            self.accept_run(digits)
        if self.pos == initial:
            return False
        return not _is_alnum(self.peek())

    def accept_remaining_duration(self) -> bool:
        if not self.accept("smhdwy"):
            return False
        self.accept("s")
        while self.accept("0123456789"):
            while self.accept("0123456789"):
                pass
            if not self.accept("smhdw"):
                return False
            self.accept("s")
        return not _is_alnum(self.next())

    def scan_duration_keyword(self) -> bool:
        while _is_alpha(self.next()):
            pass
        self.backup()
        typ = _DURATION_KEYWORDS.get(self.input[self.start : self.pos].lower())
        if typ is None:
            return False
        self.emit(typ)
        return True

    def followed_by_left_paren(self) -> bool:
        i = self.pos
        while i < len(self.input) and _is_space(self.input[i]):
            i += 1
        return i < len(self.input) and self.input[i] == "("


def _lex_statements(lx: Lexer) -> State | None:
    if lx.brace_open:
        return _lex_inside_braces
    if lx.input.startswith("#", lx.pos):
        return _lex_line_comment
    r = lx.next()
    if r == EOF_RUNE:
        if lx.paren_depth != 0:
            return lx.error_state("unclosed left parenthesis")
        if lx.bracket_open:
            return lx.error_state("unclosed left bracket")
        lx.emit("EOF")
        return None
    simple = {",": "COMMA", "*": "MUL", "/": "DIV", "%": "MOD", "+": "ADD", "-": "SUB"}
    if r in simple:
        lx.emit(simple[r])
    elif _is_space(r):
        return _lex_space
    elif r == "^":
        lx.emit("POW")
    elif r == "=":
        t = lx.peek()
        if t == "=":
            lx.next()
            lx.emit("EQLC")
        elif t == "~":
            return lx.error_state(f"unexpected character after '=': {go_quote_rune(t)}")
        else:
            lx.emit("EQL")
    elif r == "!":
        t = lx.next()
        if t != "=":
            return lx.error_state(f"unexpected character after '!': {_rune_or_eof(t)}")
        lx.emit("NEQ")
    elif r in "<>":
        t = lx.peek()
        if t == "=":
            lx.next()
            lx.emit("LTE" if r == "<" else "GTE")
        elif t == "/":
            lx.next()
            lx.emit("TRIM_UPPER" if r == "<" else "TRIM_LOWER")
        else:
            lx.emit("LSS" if r == "<" else "GTR")
    elif _is_digit(r) or (r == "." and _is_digit(lx.peek())):
        lx.backup()
        return _lex_number_or_duration
    elif r in "\"'":
        lx.string_open = r
        return _lex_string
    elif r == "`":
        lx.string_open = r
        return _lex_raw_string
    elif _is_alpha(r) or r == ":":
        if not lx.bracket_open:
            lx.backup()
            return _lex_keyword_or_identifier
        if r == ":":
            if lx.got_colon:
                return lx.error_state(f"unexpected colon {go_quote_rune(r)}")
            lx.emit("COLON")
            lx.got_colon = True
            return _lex_statements
        if r.lower() in "srm" and lx.scan_duration_keyword():
            return _lex_statements
        return lx.error_state(f"unexpected character: {go_quote_rune(r)}, expected ':'")
    elif r == "(":
        lx.emit("LEFT_PAREN")
        lx.paren_depth += 1
    elif r == ")":
        lx.emit("RIGHT_PAREN")
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            return lx.error_state(f"unexpected right parenthesis {go_quote_rune(r)}")
    elif r == "{":
        lx.emit("LEFT_BRACE")
        lx.brace_open = True
        return _lex_inside_braces
    elif r == "[":
        if lx.bracket_open:
            return lx.error_state(f"unexpected left bracket {go_quote_rune(r)}")
        lx.got_colon = False
        lx.emit("LEFT_BRACKET")
        if _is_space(lx.peek()):
            _skip_spaces(lx)
        lx.bracket_open = True
        return _lex_duration_expr
    elif r == "]":
        if not lx.bracket_open:
            return lx.error_state(f"unexpected right bracket {go_quote_rune(r)}")
        lx.emit("RIGHT_BRACKET")
        lx.bracket_open = False
    elif r == "@":
        lx.emit("AT")
    else:
        return lx.error_state(f"unexpected character: {go_quote_rune(r)}")
    return _lex_statements


def _rune_or_eof(r: str) -> str:
    return "'\ufffd'" if r == EOF_RUNE else go_quote_rune(r)  # Go quotes rune -1 as U+FFFD


def _lex_inside_braces(lx: Lexer) -> State | None:
    if lx.input.startswith("#", lx.pos):
        return _lex_line_comment
    r = lx.next()
    if r == EOF_RUNE:
        return lx.error_state("unexpected end of input inside braces")
    if _is_space(r):
        return _lex_space
    if _is_alpha(r):
        lx.backup()
        return _lex_identifier
    if r == ",":
        lx.emit("COMMA")
    elif r in "\"'":
        lx.string_open = r
        return _lex_string
    elif r == "`":
        lx.string_open = r
        return _lex_raw_string
    elif r == "=":
        if lx.next() == "~":
            lx.emit("EQL_REGEX")
        else:
            lx.backup()
            lx.emit("EQL")
    elif r == "!":
        nr = lx.next()
        if nr == "~":
            lx.emit("NEQ_REGEX")
        elif nr == "=":
            lx.emit("NEQ")
        else:
            return lx.error_state(
                f"unexpected character after '!' inside braces: {_rune_or_eof(nr)}"
            )
    elif r == "{":
        return lx.error_state(f"unexpected left brace {go_quote_rune(r)}")
    elif r == "}":
        lx.emit("RIGHT_BRACE")
        lx.brace_open = False
        return _lex_statements
    else:
        return lx.error_state(f"unexpected character inside braces: {go_quote_rune(r)}")
    return _lex_inside_braces


def _lex_escape(lx: Lexer) -> State | None:
    ch = lx.next()
    if ch != EOF_RUNE and (ch in "abfnrtv\\" or ch == lx.string_open):
        return _lex_string
    if ch != EOF_RUNE and ch in "01234567":
        n, base, max_val = 3, 8, 255
    elif ch in ("x", "u", "U") and ch != EOF_RUNE:
        n, base, max_val = {"x": (2, 16, 255), "u": (4, 16, 0x10FFFF), "U": (8, 16, 0x10FFFF)}[ch]
        ch = lx.next()
    elif ch == EOF_RUNE:
        lx.errorf("escape sequence not terminated")
        return _lex_string
    else:
        lx.errorf(f"unknown escape sequence {go_unicode(ch)}")
        return _lex_string
    x = 0
    while n > 0:
        d = int(ch, 16) if ch != EOF_RUNE and ch in "0123456789abcdefABCDEF" else 16
        if d >= base:
            if ch == EOF_RUNE:
                lx.errorf("escape sequence not terminated")
            else:
                lx.errorf(f"illegal character {go_unicode(ch)} in escape sequence")
            return _lex_string
        x = x * base + d
        n -= 1
        if n > 0:
            ch = lx.next()
    if x > max_val or 0xD800 <= x < 0xE000:
        lx.errorf("escape sequence is an invalid Unicode code point")
    return _lex_string


_PLAIN = {q: re.compile(f"[^\\\\\n{q}]+") for q in "\"'"}


def _lex_string(lx: Lexer) -> State | None:
    plain = _PLAIN[lx.string_open]
    while True:
        m = plain.match(lx.input, lx.pos)  # skip ordinary characters in one step
        if m is not None:
            lx.pos = m.end()
        r = lx.next()
        if r == "\\":
            return _lex_escape
        if r in (EOF_RUNE, "\n"):
            return lx.error_state("unterminated quoted string")
        if r == lx.string_open:
            break
    lx.emit("STRING")
    return _lex_statements


def _lex_raw_string(lx: Lexer) -> State | None:
    close = lx.input.find("`", lx.pos)
    lx.pos = close if close >= 0 else len(lx.input)
    while True:
        r = lx.next()
        if r == EOF_RUNE:
            return lx.error_state("unterminated raw string")
        if r == lx.string_open:
            break
    lx.emit("STRING")
    return _lex_statements


def _skip_spaces(lx: Lexer) -> None:
    while _is_space(lx.peek()):
        lx.next()
    lx.ignore()


def _lex_space(lx: Lexer) -> State | None:
    _skip_spaces(lx)
    return _lex_statements


def _lex_line_comment(lx: Lexer) -> State | None:
    lx.pos += 1
    r = lx.next()
    while r not in ("\r", "\n", EOF_RUNE):
        r = lx.next()
    lx.backup()
    lx.emit("COMMENT")
    return _lex_statements


def _lex_number_or_duration(lx: Lexer) -> State | None:
    if lx.scan_number():
        lx.emit("NUMBER")
        return _lex_statements
    if lx.accept_remaining_duration():
        lx.backup()
        lx.emit("DURATION")
        return _lex_statements
    text = lx.input[lx.start : lx.pos]
    return lx.error_state(f"bad number or duration syntax: {go_quote(text)}")


def _lex_identifier(lx: Lexer) -> State | None:
    while _is_alnum(lx.next()):
        pass
    lx.backup()
    lx.emit("IDENTIFIER")
    return _lex_statements


def _lex_keyword_or_identifier(lx: Lexer) -> State | None:
    while True:
        r = lx.next()
        if not (_is_alnum(r) or r == ":"):
            break
    lx.backup()
    word = lx.input[lx.start : lx.pos]
    kw = KEYWORDS.get(word.lower())
    if kw is not None:
        if kw in _FILLS and not lx.followed_by_left_paren():
            lx.emit("IDENTIFIER")
        else:
            lx.emit(kw)
    elif ":" not in word:
        lx.emit("IDENTIFIER")
    else:
        lx.emit("METRIC_IDENTIFIER")
    return _lex_statements


def _lex_duration_expr(lx: Lexer) -> State | None:
    r = lx.next()
    simple = {"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "%": "MOD", "^": "POW", ",": "COMMA"}
    if r == EOF_RUNE:
        return lx.error_state("unexpected end of input in duration expression")
    if r == "]":
        lx.emit("RIGHT_BRACKET")
        lx.bracket_open = False
        lx.got_colon = False
        return _lex_statements
    if r == ":":
        lx.emit("COLON")
        if not lx.got_duration:
            return lx.error_state("unexpected colon before duration in duration expression")
        if lx.got_colon:
            return lx.error_state("unexpected repeated colon in duration expression")
        lx.got_colon = True
        return _lex_duration_expr
    if r == "(":
        lx.emit("LEFT_PAREN")
        lx.paren_depth += 1
        return _lex_duration_expr
    if r == ")":
        lx.emit("RIGHT_PAREN")
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            return lx.error_state(f"unexpected right parenthesis {go_quote_rune(r)}")
        return _lex_duration_expr
    if _is_space(r):
        _skip_spaces(lx)
        return _lex_duration_expr
    if r in simple:
        lx.emit(simple[r])
        return _lex_duration_expr
    if r.lower() in "srm" and r != EOF_RUNE:
        if lx.scan_duration_keyword():
            return _lex_duration_expr
        return lx.error_state(f"unexpected character in duration expression: {go_quote_rune(r)}")
    if _is_digit(r) or (r == "." and _is_digit(lx.peek())):
        lx.backup()
        lx.got_duration = True
        return _lex_number_or_duration
    return lx.error_state(f"unexpected character in duration expression: {_rune_or_eof(r)}")
