"""Go's formatting primitives, so text reads exactly as Prometheus (Go) writes it.

One home for each of them:

- ``strconv``: :func:`quote` (``%q``), Go string-literal escapes (:func:`unescape`),
  :func:`quote_ascii`, :func:`quote_rune`, :func:`can_backquote`, :func:`format_float`
  (``FormatFloat``, every format) with the shortcuts :func:`format_g`, :func:`format_f`,
  :func:`format_e`, :func:`parse_float` (``ParseFloat``) and :func:`underscore_ok`.
- Prometheus' float spelling of ``le``/``quantile``: :func:`format_openmetrics_float`.
- ``strings.ToLower``/``ToUpper`` (simple case mappings): :func:`to_lower`, :func:`to_upper`;
  ``regexp.QuoteMeta``: :func:`quote_meta`; ``internal/fmtsort``'s key order:
  :func:`fmtsort_key`.

Durations and timestamps are in :mod:`kubeprom.model.timeutil`; ``fmt.Sprintf`` itself, built
on these, in :mod:`kubeprom.model.goprintf`.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal

import numpy as np


def _special(x: float) -> str | None:
    """Go's spelling of NaN and the infinities (``fmt`` and ``strconv`` agree on these)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return None


def _digits(text: str) -> tuple[str, int]:
    """Significant digits (no trailing zeros) of a finite non-zero decimal, and where its
    decimal point goes: the value is ``0.<digits> * 10**dp``, as Go's ``decimalSlice``."""
    _, digit_tuple, exponent = Decimal(text).as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite decimal: {text!r}")
    return "".join(map(str, digit_tuple)).rstrip("0"), len(digit_tuple) + exponent


def format_g(x: float, prec: int | None = None) -> str:
    """``fmt.Sprintf("%g", x)`` (``prec=None``: shortest round-trip digits) or ``%.<prec>g``.

    The exponent form is used below 1e-4, and from 1e<prec> up (from 1e6 up for the shortest
    form: Go decides with precision 6 there); ``%.0g`` is ``%.1g``.
    """
    x = float(x)  # a numpy scalar's repr() is not its digits
    special = _special(x)
    if special is not None:
        return special
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return sign + "0"
    if prec is None:
        # repr() yields the shortest round-trip digits, as Go's shortest formatting does.
        digits, dp = _digits(repr(abs(x)))
        eprec = 6  # Go: "if precision was the shortest possible, use precision 6"
    else:
        prec = max(prec, 1)
        digits, dp = _digits(f"{abs(x):.{prec - 1}e}")
        eprec = prec
        if eprec > len(digits) >= dp:
            eprec = len(digits)
    exp = dp - 1
    if exp < -4 or exp >= eprec:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def format_f(x: float, prec: int | None = None) -> str:
    """``strconv.FormatFloat(x, 'f', -1, 64)`` (``prec=None``: shortest digits, never an
    exponent) or ``fmt.Sprintf("%.<prec>f", x)`` (``%f`` is ``prec=6``)."""
    x = float(x)  # a numpy scalar's repr() is not its digits
    special = _special(x)
    if special is not None:
        return special
    if prec is not None:
        return f"{x:.{prec}f}"
    text = repr(x)  # shortest round-trip digits; an exponent from 1e16 and below 1e-4
    if "e" in text:
        return str(np.format_float_positional(x, trim="-"))
    return text[:-2] if text.endswith(".0") else text


def format_openmetrics_float(x: float) -> str:
    """Prometheus' ``labels.FormatOpenMetricsFloat``: ``%g`` with ``.0`` added where the text
    has neither ``.`` nor ``e`` (``1`` -> ``1.0``, ``1e+06`` stays); zero, ``-0`` included, is
    ``0.0``. How ``le`` and ``quantile`` label values are normalised."""
    if x == 0:
        return "0.0"
    text = format_g(x)
    if "." in text or "e" in text or _special(x) is not None:
        return text
    return text + ".0"


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def quote(text: str) -> str:
    """``strconv.Quote`` (Go's ``%q`` of a string).

    Printable characters stay as they are (Go's ``unicode.IsPrint`` is letters, marks, numbers,
    punctuation, symbols and the ASCII space: exactly ``str.isprintable``), the C escapes are
    used where Go has one, other control characters below 0x80 and bytes that are not UTF-8
    (carried as surrogate escapes) become ``\\xNN``, other non-printable runes ``\\uNNNN`` or
    ``\\UNNNNNNNN``.
    """
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif 0xDC80 <= code <= 0xDCFF:  # a surrogate-escaped byte of invalid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def format_e(x: float, prec: int | None = None) -> str:
    """``strconv.FormatFloat(x, 'e', -1, 64)`` (``prec=None``: shortest digits, always an
    exponent: ``1e+00``, ``1.5e-07``) or ``fmt.Sprintf("%.<prec>e", x)``."""
    x = float(x)
    special = _special(x)
    if special is not None:
        return special
    if prec is not None:
        return f"{x:.{prec}e}"  # Python and Go agree: rounded digits, two-digit exponent
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return f"{sign}0e+00"
    digits, dp = _digits(repr(abs(x)))
    exp = dp - 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def format_float(x: float, fmt: str, prec: int = -1) -> str:
    """``strconv.FormatFloat(x, fmt, prec, 64)`` for fmt in ``b e E f g G x X``; a negative
    prec asks for the shortest digits that round-trip."""
    x = float(x)
    special = _special(x)
    if special is not None:
        return special
    if fmt == "b":
        return _format_b(x)
    if fmt in "xX":
        return _format_x(x, fmt, prec)
    p = None if prec < 0 else prec
    if fmt in "gG":
        out = format_g(x, p)
    elif fmt == "f":
        out = format_f(x, p)
    elif fmt in "eE":
        out = format_e(x, p)
    else:
        raise ValueError(f"unknown float format {fmt!r}")
    return out.upper() if fmt in "EG" else out


def _bits(x: float) -> tuple[bool, int, int]:
    """(negative, mantissa with the implicit bit, unbiased exponent) as strconv splits them."""
    b = struct.unpack("<Q", struct.pack("<d", x))[0]
    neg = b >> 63 != 0
    exp = (b >> 52) & 0x7FF
    mant = b & ((1 << 52) - 1)
    if exp == 0:
        exp += 1
    else:
        mant |= 1 << 52
    return neg, mant, exp - 1023


def _format_b(x: float) -> str:
    """``'b'``: the binary exponent form, ``4503599627370496p-51``."""
    neg, mant, exp = _bits(x)
    exp -= 52
    return f"{'-' if neg else ''}{mant}p{'+' if exp >= 0 else ''}{exp}"


def _format_x(x: float, fmt: str, prec: int) -> str:
    """``'x'``/``'X'``: hexadecimal mantissa, binary exponent (strconv's ``fmtX``)."""
    neg, mant, exp = _bits(x)
    if mant == 0:
        exp = 0
    mant <<= 60 - 52
    while mant != 0 and mant & (1 << 60) == 0:
        mant <<= 1
        exp -= 1
    mask = (1 << 64) - 1
    if 0 <= prec < 15:
        shift = prec * 4
        extra = (mant << shift) & ((1 << 60) - 1)
        mant >>= 60 - shift
        if extra | (mant & 1) > 1 << 59:
            mant += 1
        mant = (mant << (60 - shift)) & mask
        if mant & (1 << 61):
            mant >>= 1
            exp += 1
    digits = "0123456789abcdef" if fmt == "x" else "0123456789ABCDEF"
    out = ["-" if neg else "", "0", fmt, str((mant >> 60) & 1)]
    mant = (mant << 4) & mask
    if (prec < 0 and mant != 0) or prec > 0:
        out.append(".")
        n = 0
        while (prec < 0 and mant != 0) or (prec > 0 and n < prec):
            out.append(digits[(mant >> 60) & 15])
            mant = (mant << 4) & mask
            n += 1
    out.append("p" if fmt == "x" else "P")
    out.append("-" if exp < 0 else "+")
    out.append(f"{abs(exp):02d}")
    return "".join(out)


# ---- strconv.ParseFloat ------------------------------------------------------------------------
class ParseFloatError(ValueError):
    """``strconv.ParseFloat``'s ``*NumError``; ``str()`` is Go's text."""


_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9][0-9_]*)?\Z")
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9][0-9_]*\Z"
)


def underscore_ok(s: str) -> bool:
    """``strconv.underscoreOK``: underscores only between digits (or after a base prefix)."""
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


def parse_float(s: str) -> float:
    """``strconv.ParseFloat(s, 64)``; raises :class:`ParseFloatError` with Go's message."""
    low = s.lower()
    sign = -1.0 if low.startswith("-") else 1.0
    body = low[1:] if low[:1] in "+-" else low
    if body in ("inf", "infinity"):
        return sign * math.inf
    if low == "nan":
        return math.nan
    hexa = _HEX_FLOAT.match(s) is not None
    if not (hexa or _DEC_FLOAT.match(s)) or ("_" in s and not underscore_ok(s)):
        raise ParseFloatError(f"strconv.ParseFloat: parsing {quote(s)}: invalid syntax")
    text = s.replace("_", "")
    try:
        value = float.fromhex(text) if hexa else float(text)
    except OverflowError:
        value = math.inf if not text.startswith("-") else -math.inf
    if math.isinf(value):
        raise ParseFloatError(f"strconv.ParseFloat: parsing {quote(s)}: value out of range")
    return value


# ---- strconv quoting beyond Quote --------------------------------------------------------------
MAX_RUNE = 0x10FFFF  # unicode.MaxRune


def can_backquote(s: str) -> bool:
    """``strconv.CanBackquote``: a single-line raw string literal can hold s unchanged."""
    for ch in s:
        c = ord(ch)
        if (c < 0x20 and ch != "\t") or ch in "`\x7f\ufeff" or 0xDC80 <= c <= 0xDCFF:
            return False
    return True


def quote_ascii(s: str) -> str:
    """``strconv.QuoteToASCII``: like :func:`quote`, non-ASCII escaped."""
    out = []
    for ch in quote(s):
        c = ord(ch)
        if c < 0x80:
            out.append(ch)
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    return "".join(out)


def quote_rune(r: int, *, ascii_only: bool = False) -> str:
    """``strconv.QuoteRune`` (``QuoteRuneToASCII`` with ascii_only)."""
    if r > MAX_RUNE or 0xD800 <= r <= 0xDFFF or r < 0:
        r = 0xFFFD
    ch = chr(r)
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    body = (quote_ascii(ch) if ascii_only else quote(ch))[1:-1]
    return f"'{body}'"


# ---- strings, regexp, fmtsort ------------------------------------------------------------------
# Go's strings.ToLower/ToUpper map rune by rune with simple case mappings: no "ß" -> "SS",
# no final-sigma rule. Python's str methods use full mappings, so non-ASCII text goes char
# by char and keeps any character whose full mapping is not a single character. U+0130 is
# the one letter whose full lowercase is two characters while its simple one is "i".
_SIMPLE_LOWER = {"\u0130": "i"}


def to_lower(s: str) -> str:
    """``strings.ToLower``: simple per-rune mappings, no final-sigma context."""
    if s.isascii():
        return s.lower()
    return "".join(_SIMPLE_LOWER.get(c) or (lo if len(lo := c.lower()) == 1 else c) for c in s)


def to_upper(s: str) -> str:
    """``strings.ToUpper``: simple per-rune mappings (``ß`` stays ``ß``)."""
    if s.isascii():
        return s.upper()
    return "".join(up if len(up := c.upper()) == 1 else c for c in s)


_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def quote_meta(s: str) -> str:
    """``regexp.QuoteMeta``: a backslash before each of ``\\.+*?()|[]{}^$``."""
    return _REGEX_SPECIAL.sub(r"\\\1", s)


def fmtsort_key(k: object) -> tuple[int, object]:
    """fmtsort's order for the key types templates build: NaN first, then numbers, strings."""
    if isinstance(k, float) and math.isnan(k):
        return (0, 0)
    if isinstance(k, int | float):
        return (1, k)
    return (2, str(k))


_UNESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


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
        if nxt in _UNESCAPES:
            out += _UNESCAPES[nxt].encode()
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
