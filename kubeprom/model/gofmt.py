"""Go's formatting primitives, so text reads exactly as Prometheus (Go) writes it.

One home for ``strconv.Quote`` (``%q``) and Go string-literal escapes (:func:`unescape`),
``strconv.FormatFloat`` (``%g``, ``%f``, ``'f'``) and Prometheus' float spellings built on
them; durations and timestamps are in :mod:`kubeprom.model.timeutil`.
"""

from __future__ import annotations

import math
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


def format_e(x: float) -> str:
    """``strconv.FormatFloat(x, 'e', -1, 64)``: shortest digits, always an exponent
    (``1e+00``, ``1.5e-07``)."""
    x = float(x)
    special = _special(x)
    if special is not None:
        return special
    sign = "-" if math.copysign(1.0, x) < 0 else ""
    if x == 0:
        return f"{sign}0e+00"
    digits, dp = _digits(repr(abs(x)))
    exp = dp - 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


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
