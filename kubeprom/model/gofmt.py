"""Go's formatting primitives, so text reads exactly as Prometheus (Go) writes it.

One home for ``strconv.Quote`` (``%q``), ``strconv.FormatFloat`` (``%g``, ``'f'``) and friends;
durations and timestamps are in :mod:`kubeprom.model.timeutil`.
"""

from __future__ import annotations

import math

import numpy as np


def format_g(x: float) -> str:
    """``fmt.Sprintf("%g", x)``: shortest digits, exponent form below 1e-4 or from 1e6 up."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "-0" if math.copysign(1, x) < 0 else "0"
    digits, exp = _shortest(x)
    sign = "-" if x < 0 else ""
    if exp < -4 or exp >= 6:
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + str(np.format_float_positional(abs(x), trim="-"))


def _shortest(x: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of ``|x|`` and its decimal exponent."""
    text = f"{abs(x):.17e}"
    for prec in range(1, 18):
        cand = f"{abs(x):.{prec - 1}e}"
        if float(cand) == abs(x):
            text = cand
            break
    mant, e = text.split("e")
    return mant.replace(".", "").rstrip("0") or "0", int(e)


def format_f(x: float) -> str:
    """``strconv.FormatFloat(x, 'f', -1, 64)``: shortest digits, never an exponent."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    return str(np.format_float_positional(x, trim="-"))


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
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    sign = "-" if math.copysign(1, x) < 0 else ""
    if x == 0:
        return f"{sign}0e+00"
    digits, exp = _shortest(x)
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
