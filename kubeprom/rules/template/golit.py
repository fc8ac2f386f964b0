"""Go literals in templates: ``strconv.Unquote``/``UnquoteChar`` and number constants.

Number constants follow ``parse.newNumber``: a constant is recorded under every type that can
hold it (``1`` is int, uint and float; ``1.5`` only float), and the executor picks the type
the function parameter wants.
"""

from __future__ import annotations

import math

from kubeprom.model.goprintf import ParseFloatError, parse_float
from kubeprom.rules.template.lexer import ItemType
from kubeprom.rules.template.nodes import Number

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


class UnquoteError(ValueError):
    """A literal Go rejects; ``str()`` is strconv's or the parser's message."""


def unquote_char(s: str, quote: str) -> tuple[int, str]:
    """``strconv.UnquoteChar``: the first (possibly escaped) rune of s and the rest."""
    if not s:
        raise UnquoteError("invalid syntax")
    c = s[0]
    if c == quote and quote in "'\"":
        raise UnquoteError("invalid syntax")
    if c != "\\":
        return ord(c), s[1:]
    if len(s) <= 1:
        raise UnquoteError("invalid syntax")
    c, s = s[1], s[2:]
    if c in _SIMPLE_ESCAPES:
        return ord(_SIMPLE_ESCAPES[c]), s
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[:n]
        if len(digits) < n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise UnquoteError("invalid syntax")
        v = int(digits, 16)
        if c != "x" and (v > 0x10FFFF or 0xD800 <= v <= 0xDFFF):
            raise UnquoteError("invalid syntax")
        return v, s[n:]
    if "0" <= c <= "7":
        digits = c + s[:2]
        if len(digits) < 3 or any(d not in "01234567" for d in digits):
            raise UnquoteError("invalid syntax")
        v = int(digits, 8)
        if v > 255:
            raise UnquoteError("invalid syntax")
        return v, s[2:]
    if c in "'\"":
        if c != quote:
            raise UnquoteError("invalid syntax")
        return ord(c), s
    raise UnquoteError("invalid syntax")


def unquote(s: str) -> str:
    """``strconv.Unquote`` for the ``"..."`` and raw ```...``` strings the lexer produces."""
    if len(s) < 2 or s[0] != s[-1]:
        raise UnquoteError("invalid syntax")
    quote, body = s[0], s[1:-1]
    if quote == "`":
        if "`" in body:
            raise UnquoteError("invalid syntax")
        return body.replace("\r", "")
    if quote != '"':
        raise UnquoteError("invalid syntax")
    if "\\" not in body and '"' not in body and "\n" not in body:
        return body
    out: list[str] = []
    raw_bytes = bytearray()  # \xNN and \NNN escapes are bytes, which may form UTF-8 runes
    while body:
        if body[0] == "\n":
            raise UnquoteError("invalid syntax")
        is_byte = body[0] == "\\" and len(body) > 1 and (body[1] == "x" or "0" <= body[1] <= "7")
        v, body = unquote_char(body, quote)
        if is_byte:
            raw_bytes.append(v)
            continue
        if raw_bytes:
            out.append(raw_bytes.decode("utf-8", "surrogateescape"))
            raw_bytes.clear()
        out.append(chr(v))
    if raw_bytes:
        out.append(raw_bytes.decode("utf-8", "surrogateescape"))
    return "".join(out)


def _underscore_ok(s: str) -> bool:
    saw = "^"
    if s[:1] in ("+", "-"):
        s = s[1:]
    i = 0
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        i, saw, hexa = 2, "0", s[1] in "xX"
    for c in s[i:]:
        if "0" <= c <= "9" or (hexa and c in "abcdefABCDEF"):
            saw = "0"
        elif c == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _parse_uint(s0: str) -> int | None:
    """``strconv.ParseUint(s, 0, 64)``, None on any error."""
    if not s0:
        return None
    s, base = s0, 10
    if s[0] == "0":
        if len(s) >= 3 and s[1] in "bB":
            base, s = 2, s[2:]
        elif len(s) >= 3 and s[1] in "oO":
            base, s = 8, s[2:]
        elif len(s) >= 3 and s[1] in "xX":
            base, s = 16, s[2:]
        else:
            base, s = 8, s[1:]
    n = 0
    underscores = False
    for c in s:
        if c == "_":
            underscores = True
            continue
        d = int(c, 36) if c.isascii() and c.isalnum() else 99
        if d >= base:
            return None
        n = n * base + d
    if underscores and not _underscore_ok(s0):
        return None
    return n if n <= _UINT64_MAX else None


def _parse_int(s: str) -> int | None:
    """``strconv.ParseInt(s, 0, 64)``, None on any error."""
    neg = s[:1] == "-"
    body = s[1:] if s[:1] in "+-" else s
    u = _parse_uint(body)
    if u is None:
        return None
    v = -u if neg else u
    return v if _INT64_MIN <= v <= _INT64_MAX else None


def _float_or_none(text: str) -> float | None:
    try:
        return parse_float(text)
    except ParseFloatError:
        return None


def _simplify_complex(n: Number) -> None:
    n.is_float = n.complex128.imag == 0
    if n.is_float:
        n.float64 = n.complex128.real
        n.is_int = _float_is_int(n.float64)
        if n.is_int:
            n.int64 = int(n.float64)
        n.is_uint = n.is_int and n.float64 >= 0
        if n.is_uint:
            n.uint64 = int(n.float64)


def _float_is_int(f: float) -> bool:
    return math.isfinite(f) and f == int(f) and _INT64_MIN <= f < 2.0**63


def parse_number(text: str, typ: ItemType) -> Number:
    """``parse.newNumber``; raises :class:`UnquoteError` with Go's message."""
    n = Number(text)
    if typ == ItemType.CHAR_CONSTANT:
        r, tail = unquote_char(text[1:], text[0])
        if tail != "'":
            raise UnquoteError(f"malformed character constant: {text}")
        n.int64 = n.uint64 = r
        n.float64 = float(r)
        n.is_int = n.is_uint = n.is_float = True
        return n
    if typ == ItemType.COMPLEX:
        try:
            n.complex128 = complex(text.replace("_", "").replace("i", "j"))
        except ValueError as err:
            raise UnquoteError(f"expected integer; found {text}") from err
        n.is_complex = True
        _simplify_complex(n)
        return n
    if text.endswith("i"):
        f = _float_or_none(text[:-1])
        if f is not None:
            n.is_complex = True
            n.complex128 = complex(0, f)
            _simplify_complex(n)
            return n
    u = _parse_uint(text)
    if u is not None:
        n.is_uint, n.uint64 = True, u
    i = _parse_int(text)
    if i is not None:
        n.is_int, n.int64 = True, i
        if i == 0:
            n.is_uint, n.uint64 = True, 0
    if n.is_int:
        n.is_float, n.float64 = True, float(n.int64)
    elif n.is_uint:
        n.is_float, n.float64 = True, float(n.uint64)
    else:
        f = _float_or_none(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise UnquoteError(f'integer overflow: "{text}"')
            n.is_float, n.float64 = True, f
            if not n.is_int and _float_is_int(f):
                n.is_int, n.int64 = True, int(f)
            if not n.is_uint and math.isfinite(f) and f >= 0 and f == int(f) and f < 2.0**64:
                n.is_uint, n.uint64 = True, int(f)
    if not (n.is_int or n.is_uint or n.is_float):
        raise UnquoteError(f'illegal number syntax: "{text}"')
    return n
