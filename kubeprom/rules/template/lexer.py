"""The lexer of Go's text/template (``text/template/parse/lex.go``), state for state.

Positions are offsets into the Python string (code points); errors convert them to Go's
byte columns. The lexer runs once per template parse, never while alerts are expanded.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from kubeprom.model.goprintf import sprintf


class ItemType(IntEnum):
    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHAR_CONSTANT = 3
    COMMENT = 4
    COMPLEX = 5
    ASSIGN = 6
    DECLARE = 7
    EOF = 8
    FIELD = 9
    IDENTIFIER = 10
    LEFT_DELIM = 11
    LEFT_PAREN = 12
    NUMBER = 13
    PIPE = 14
    RAW_STRING = 15
    RIGHT_DELIM = 16
    RIGHT_PAREN = 17
    SPACE = 18
    STRING = 19
    TEXT = 20
    VARIABLE = 21
    KEYWORD = 22  # keywords sort after this
    BLOCK = 23
    BREAK = 24
    CONTINUE = 25
    DOT = 26
    DEFINE = 27
    ELSE = 28
    END = 29
    IF = 30
    NIL = 31
    RANGE = 32
    TEMPLATE = 33
    WITH = 34


KEYWORDS = {
    ".": ItemType.DOT,
    "block": ItemType.BLOCK,
    "break": ItemType.BREAK,
    "continue": ItemType.CONTINUE,
    "define": ItemType.DEFINE,
    "else": ItemType.ELSE,
    "end": ItemType.END,
    "if": ItemType.IF,
    "range": ItemType.RANGE,
    "nil": ItemType.NIL,
    "template": ItemType.TEMPLATE,
    "with": ItemType.WITH,
}

LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
SPACE_CHARS = " \t\r\n"
TRIM_MARKER_LEN = 2  # "-" plus the space before or after it


@dataclass(frozen=True, slots=True)
class Item:
    typ: ItemType
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == ItemType.EOF:
            return "EOF"
        if self.typ == ItemType.ERROR:
            return self.val
        if self.typ > ItemType.KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return sprintf("%.10q...", self.val)
        return sprintf("%q", self.val)


def is_space(c: str) -> bool:
    return c in SPACE_CHARS and c != ""


def is_alnum(c: str) -> bool:
    """Go's isAlphaNumeric: underscore, unicode.IsLetter or unicode.IsDigit."""
    if c == "":
        return False
    if c.isascii():
        return c.isalnum() or c == "_"
    return c.isalpha() or unicodedata.category(c) == "Nd"


def _has_left_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and is_space(s[i + 1])


def _has_right_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and is_space(s[i]) and s[i + 1] == "-"


StateFn = Callable[["Lexer"], "StateFn | None"]


class Lexer:
    """Go's ``lexer``: call :meth:`next_item` until EOF or ERROR."""

    def __init__(
        self,
        text: str,
        *,
        break_ok: bool = True,
        continue_ok: bool = True,
        left_delim: str = LEFT_DELIM,
        right_delim: str = RIGHT_DELIM,
    ) -> None:
        self.input = text
        self.left_delim = left_delim or LEFT_DELIM
        self.right_delim = right_delim or RIGHT_DELIM
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.paren_depth = 0
        self.line = 1
        self.start_line = 1
        self.item = Item(ItemType.EOF, 0, "EOF", 1)
        self.inside_action = False
        self.break_ok = break_ok
        self.continue_ok = continue_ok

    # -- primitives
    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return ""
        c = self.input[self.pos]
        self.pos += 1
        if c == "\n":
            self.line += 1
        return c

    def peek(self) -> str:
        return self.input[self.pos] if self.pos < len(self.input) else ""

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def this_item(self, t: ItemType) -> Item:
        i = Item(t, self.start, self.input[self.start : self.pos], self.start_line)
        self.start = self.pos
        self.start_line = self.line
        return i

    def emit(self, t: ItemType) -> None:
        self.item = self.this_item(t)

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        c = self.next()
        if c != "" and c in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            c = self.next()
            if c == "" or c not in valid:
                break
        self.backup()

    def errorf(self, message: str) -> None:
        self.item = Item(ItemType.ERROR, self.start, message, self.start_line)
        self.start = 0
        self.pos = 0
        self.input = ""

    def next_item(self) -> Item:
        self.item = Item(ItemType.EOF, self.pos, "EOF", self.start_line)
        state: StateFn | None = lex_inside_action if self.inside_action else lex_text
        while state is not None:
            state = state(self)
        return self.item

    def at_right_delim(self) -> tuple[bool, bool]:
        s, p = self.input, self.pos
        if _has_right_trim(s, p) and s.startswith(self.right_delim, p + TRIM_MARKER_LEN):
            return True, True
        if s.startswith(self.right_delim, p):
            return True, False
        return False, False

    def at_terminator(self) -> bool:
        c = self.peek()
        if is_space(c) or c in ("", ".", ",", "|", ":", ")", "("):
            return True
        return self.input.startswith(self.right_delim, self.pos)


# ---- state functions ---------------------------------------------------------------------------
def lex_text(lx: Lexer) -> StateFn | None:
    s = lx.input
    x = s.find(lx.left_delim, lx.pos)
    if x >= 0:
        if x > lx.pos:
            lx.pos = x
            trim = 0
            if _has_left_trim(s, x + len(lx.left_delim)):
                trim = len(s[lx.start : lx.pos]) - len(s[lx.start : lx.pos].rstrip(SPACE_CHARS))
            lx.pos -= trim
            lx.line += s.count("\n", lx.start, lx.pos)
            item = lx.this_item(ItemType.TEXT)
            lx.pos += trim
            lx.ignore()
            if item.val:
                lx.item = item
                return None
        return lex_left_delim
    lx.pos = len(s)
    if lx.pos > lx.start:
        lx.line += s.count("\n", lx.start, lx.pos)
        lx.emit(ItemType.TEXT)
        return None
    lx.emit(ItemType.EOF)
    return None


def lex_left_delim(lx: Lexer) -> StateFn | None:
    lx.pos += len(lx.left_delim)
    trim = _has_left_trim(lx.input, lx.pos)
    after = TRIM_MARKER_LEN if trim else 0
    if lx.input.startswith(LEFT_COMMENT, lx.pos + after):
        lx.pos += after
        lx.ignore()
        return lex_comment
    item = lx.this_item(ItemType.LEFT_DELIM)
    lx.inside_action = True
    lx.pos += after
    lx.ignore()
    lx.paren_depth = 0
    lx.item = item
    return None


def lex_comment(lx: Lexer) -> StateFn | None:
    lx.pos += len(LEFT_COMMENT)
    x = lx.input.find(RIGHT_COMMENT, lx.pos)
    if x < 0:
        lx.errorf("unclosed comment")
        return None
    lx.pos = x + len(RIGHT_COMMENT)
    delim, trim = lx.at_right_delim()
    if not delim:
        lx.errorf("comment ends before closing delimiter")
        return None
    lx.line += lx.input.count("\n", lx.start, lx.pos)
    lx.this_item(ItemType.COMMENT)
    if trim:
        lx.pos += TRIM_MARKER_LEN
    lx.pos += len(lx.right_delim)
    if trim:
        rest = lx.input[lx.pos :]
        lx.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
    lx.ignore()
    return lex_text


def lex_right_delim(lx: Lexer) -> StateFn | None:
    _, trim = lx.at_right_delim()
    if trim:
        lx.pos += TRIM_MARKER_LEN
        lx.ignore()
    lx.pos += len(lx.right_delim)
    item = lx.this_item(ItemType.RIGHT_DELIM)
    if trim:
        rest = lx.input[lx.pos :]
        lx.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))
        lx.ignore()
    lx.inside_action = False
    lx.item = item
    return None


def lex_inside_action(lx: Lexer) -> StateFn | None:
    delim, _ = lx.at_right_delim()
    if delim:
        if lx.paren_depth == 0:
            return lex_right_delim
        lx.errorf("unclosed left paren")
        return None
    c = lx.next()
    if c == "":
        lx.errorf("unclosed action")
        return None
    if is_space(c):
        lx.backup()
        return lex_space
    if c == "=":
        lx.emit(ItemType.ASSIGN)
    elif c == ":":
        if lx.next() != "=":
            lx.errorf("expected :=")
            return None
        lx.emit(ItemType.DECLARE)
    elif c == "|":
        lx.emit(ItemType.PIPE)
    elif c == '"':
        return lex_quote
    elif c == "`":
        return lex_raw_quote
    elif c == "$":
        return lex_variable
    elif c == "'":
        return lex_char
    elif c == "." and lx.pos < len(lx.input) and not "0" <= lx.input[lx.pos] <= "9":
        return lex_field
    elif c in ".+-" or "0" <= c <= "9":
        lx.backup()
        return lex_number
    elif is_alnum(c):
        lx.backup()
        return lex_identifier
    elif c == "(":
        lx.paren_depth += 1
        lx.emit(ItemType.LEFT_PAREN)
    elif c == ")":
        lx.paren_depth -= 1
        if lx.paren_depth < 0:
            lx.errorf("unexpected right paren")
            return None
        lx.emit(ItemType.RIGHT_PAREN)
    elif c.isascii() and c.isprintable():
        lx.emit(ItemType.CHAR)
    else:
        lx.errorf(sprintf("unrecognized character in action: %#U", ord(c)))
    return None


def lex_space(lx: Lexer) -> StateFn | None:
    num = 0
    while is_space(lx.peek()):
        lx.next()
        num += 1
    s = lx.input
    if _has_right_trim(s, lx.pos - 1) and s.startswith(
        lx.right_delim, lx.pos - 1 + TRIM_MARKER_LEN
    ):
        lx.backup()
        if num == 1:
            return lex_right_delim
    lx.emit(ItemType.SPACE)
    return None


def lex_identifier(lx: Lexer) -> StateFn | None:
    while True:
        c = lx.next()
        if is_alnum(c):
            continue
        lx.backup()
        word = lx.input[lx.start : lx.pos]
        if not lx.at_terminator():
            lx.errorf(sprintf("bad character %#U", ord(c)))
            return None
        key = KEYWORDS.get(word)
        if key is not None and key > ItemType.KEYWORD:
            if (key == ItemType.BREAK and not lx.break_ok) or (
                key == ItemType.CONTINUE and not lx.continue_ok
            ):
                lx.emit(ItemType.IDENTIFIER)
            else:
                lx.emit(key)
        elif word[0] == ".":
            lx.emit(ItemType.FIELD)
        elif word in ("true", "false"):
            lx.emit(ItemType.BOOL)
        else:
            lx.emit(ItemType.IDENTIFIER)
        return None


def lex_field(lx: Lexer) -> StateFn | None:
    return _lex_field_or_variable(lx, ItemType.FIELD)


def lex_variable(lx: Lexer) -> StateFn | None:
    if lx.at_terminator():
        lx.emit(ItemType.VARIABLE)
        return None
    return _lex_field_or_variable(lx, ItemType.VARIABLE)


def _lex_field_or_variable(lx: Lexer, typ: ItemType) -> StateFn | None:
    if lx.at_terminator():
        lx.emit(ItemType.VARIABLE if typ == ItemType.VARIABLE else ItemType.DOT)
        return None
    c = ""
    while True:
        c = lx.next()
        if not is_alnum(c):
            lx.backup()
            break
    if not lx.at_terminator():
        lx.errorf(sprintf("bad character %#U", ord(c)) if c else "bad character")
        return None
    lx.emit(typ)
    return None


def lex_char(lx: Lexer) -> StateFn | None:
    while True:
        c = lx.next()
        if c == "\\":
            c2 = lx.next()
            if c2 not in ("", "\n"):
                continue
            lx.errorf("unterminated character constant")
            return None
        if c in ("", "\n"):
            lx.errorf("unterminated character constant")
            return None
        if c == "'":
            break
    lx.emit(ItemType.CHAR_CONSTANT)
    return None


def lex_number(lx: Lexer) -> StateFn | None:
    if not _scan_number(lx):
        lx.errorf(sprintf("bad number syntax: %q", lx.input[lx.start : lx.pos]))
        return None
    if lx.peek() in ("+", "-") and lx.peek() != "":
        if not _scan_number(lx) or lx.input[lx.pos - 1] != "i":
            lx.errorf(sprintf("bad number syntax: %q", lx.input[lx.start : lx.pos]))
            return None
        lx.emit(ItemType.COMPLEX)
        return None
    lx.emit(ItemType.NUMBER)
    return None


def _scan_number(lx: Lexer) -> bool:
    lx.accept("+-")
    digits = "0123456789_"
    if lx.accept("0"):
        if lx.accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif lx.accept("oO"):
            digits = "01234567_"
        elif lx.accept("bB"):
            digits = "01_"
    lx.accept_run(digits)
    if lx.accept("."):
        lx.accept_run(digits)
    if len(digits) == 11 and lx.accept("eE"):
        lx.accept("+-")
        lx.accept_run("0123456789_")
    if len(digits) == 23 and lx.accept("pP"):
        lx.accept("+-")
        lx.accept_run("0123456789_")
    lx.accept("i")
    if is_alnum(lx.peek()):
        lx.next()
        return False
    return True


def lex_quote(lx: Lexer) -> StateFn | None:
    while True:
        c = lx.next()
        if c == "\\":
            c2 = lx.next()
            if c2 not in ("", "\n"):
                continue
            lx.errorf("unterminated quoted string")
            return None
        if c in ("", "\n"):
            lx.errorf("unterminated quoted string")
            return None
        if c == '"':
            break
    lx.emit(ItemType.STRING)
    return None


def lex_raw_quote(lx: Lexer) -> StateFn | None:
    while True:
        c = lx.next()
        if c == "":
            lx.errorf("unterminated raw quoted string")
            return None
        if c == "`":
            break
    lx.emit(ItemType.RAW_STRING)
    return None
