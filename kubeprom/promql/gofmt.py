"""Go's float formatting, for messages and labels that must read as Prometheus writes them."""

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
