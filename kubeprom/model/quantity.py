"""Kubernetes resource quantities, parsed and converted exactly as apimachinery does.

``parse_quantity`` follows ``resource.ParseQuantity``: ``<sign><digits>[.<digits>]<suffix>``
with a decimal SI suffix (``n u m "" k M G T P E``), a binary one (``Ki Mi Gi Ti Pi Ei``) or
a decimal exponent (``e3``, ``E-2``). Like apimachinery it keeps one of two internal forms,
and the form matters for the float conversion: a *fast* form ``value * 10**scale`` with an
int64 ``value`` (most inputs), or an arbitrary-precision decimal rounded up (away from zero)
to nano (exponent -9). Binary quantities are capped at 2**63-1.

``milli_value`` is ``Quantity.MilliValue()``: ``ceil(q * 1000)`` as an int64, including
apimachinery's results on overflow (which its documentation calls undefined: 0, or the
product wrapped at 64 bits). ``approximate_float`` is ``AsApproximateFloat64()``: the
mantissa as a float64 times Go's ``math.Pow10`` of the exponent, which can differ by an ulp
from the nearest double of the decimal text. ``decimal_si`` renders the canonical DecimalSI
text (``250m``, ``1500k``) of a mantissa and exponent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from kubeprom.model.goarith import div as go_div

_INT64_MAX = (1 << 63) - 1
_INT64_MIN = -(1 << 63)
_MAX_INT64_FACTORS = 18  # decimal digits that always fit an int64
_NANO = -9
# Exponents this far out only make zero or infinity; refuse them rather than build huge ints.
_MAX_EXPONENT = 100_000

_DECIMAL_SUFFIXES = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_SUFFIX_CHARS = frozenset("eEinumkKMGTP")
_SI_NAMES = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"}

# apimachinery's error texts
FORMAT_WRONG = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)
NUMERIC = "unable to parse numeric part of quantity"
SUFFIX = "unable to parse quantity's suffix"

# Go's math.Pow10 tables: a product (or quotient) of two exact powers, as Go computes it.
_POW10_TAB = tuple(float(10**i) for i in range(32))
_POW10_POS32 = tuple(float(f"1e{32 * i}") for i in range(10))
_POW10_NEG32 = tuple(float(f"1e-{32 * i}") for i in range(11))


class QuantityFormat(StrEnum):
    DECIMAL_EXPONENT = "DecimalExponent"
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"


@dataclass(frozen=True, slots=True)
class Quantity:
    """A parsed quantity: ``unscaled * 10**scale``.

    ``fast`` is true for apimachinery's int64 form (``unscaled`` fits an int64); otherwise
    the value is the decimal form, rounded to nano. ``text`` is what was parsed.
    """

    unscaled: int
    scale: int
    format: QuantityFormat
    fast: bool
    text: str

    @property
    def value(self) -> Fraction:
        """The exact value."""
        return self.unscaled * Fraction(10) ** self.scale

    def sign(self) -> int:
        return (self.unscaled > 0) - (self.unscaled < 0)

    def milli_value(self) -> int:
        """``MilliValue()``: ``ceil(q * 1000)`` as apimachinery computes it into an int64."""
        if self.fast:
            return _fast_scaled_int64(self.unscaled, self.scale, -3)
        return _dec_scaled_int64(self.unscaled, -self.scale, 3)

    def approximate_float(self) -> float:
        """``AsApproximateFloat64()``: ``float(mantissa) * math.Pow10(exponent)``."""
        try:
            base = float(self.unscaled)
        except OverflowError:
            base = float("inf") if self.unscaled > 0 else float("-inf")
        if self.scale == 0:
            return base
        return base * go_pow10(self.scale)

    def __str__(self) -> str:
        return self.text


def go_pow10(n: int) -> float:
    """Go's ``math.Pow10(n)``: bit for bit, including 0 below 1e-323 and +Inf above 1e308."""
    if 0 <= n <= 308:
        return _POW10_POS32[n // 32] * _POW10_TAB[n % 32]
    if -323 <= n < 0:
        return _POW10_NEG32[-n // 32] / _POW10_TAB[-n % 32]
    return 0.0 if n < 0 else float("inf")


def _scan(text: str) -> tuple[bool, str, str, str, str]:
    """apimachinery's ``parseQuantityString``: (positive, value, num, denom, suffix).

    Raises ValueError(FORMAT_WRONG) like the Go scanner.
    """
    positive = True
    pos = 0
    end = len(text)
    if pos < end and text[0] in "+-":
        positive = text[0] == "+"
        pos += 1
    while True:  # leading zeros
        if pos >= end:
            return positive, "0", "0", "", ""
        if text[pos] != "0":
            break
        pos += 1
    start = pos
    while pos < end and text[pos].isascii() and text[pos].isdigit():
        pos += 1
    num = text[start:pos] or "0"
    if pos >= end:
        return positive, text, num, "", ""
    denom = ""
    if text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos].isascii() and text[pos].isdigit():
            pos += 1
        denom = text[start:pos]
        if pos >= end:
            return positive, text, num, denom, ""
    value = text[:pos]
    suffix_start = pos
    while pos < end and text[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos >= end:
        return positive, value, num, denom, text[suffix_start:]
    if text[pos] in "+-":
        pos += 1
    while pos < end:
        if not (text[pos].isascii() and text[pos].isdigit()):
            raise ValueError(FORMAT_WRONG)
        pos += 1
    return positive, value, num, denom, text[suffix_start:]


def _interpret(suffix: str) -> tuple[int, int, QuantityFormat]:
    """(base, exponent, format) of a suffix; raises ValueError(SUFFIX)."""
    if suffix in _DECIMAL_SUFFIXES:
        return 10, _DECIMAL_SUFFIXES[suffix], QuantityFormat.DECIMAL_SI
    if suffix in _BINARY_SUFFIXES:
        return 2, _BINARY_SUFFIXES[suffix], QuantityFormat.BINARY_SI
    if len(suffix) > 1 and suffix[0] in "eE":
        digits = suffix[1:]
        body = digits[1:] if digits[:1] in ("+", "-") else digits
        if body.isascii() and body.isdigit():
            exponent = int(digits)
            if -(1 << 63) <= exponent < (1 << 63):
                # Go keeps int32(parsed): the exponent wraps at 32 bits.
                wrapped = (exponent + (1 << 31)) % (1 << 32) - (1 << 31)
                return 10, wrapped, QuantityFormat.DECIMAL_EXPONENT
    raise ValueError(SUFFIX)


def parse_quantity(text: str) -> Quantity:
    """Parse a quantity as ``resource.ParseQuantity`` does; raises ValueError with
    apimachinery's message (``quantities must match the regular expression ...``)."""
    if not text:
        raise ValueError(FORMAT_WRONG)
    if text == "0":
        return Quantity(0, 0, QuantityFormat.DECIMAL_SI, True, text)
    positive, value, num, denom, suffix = _scan(text)
    base, exponent, fmt = _interpret(suffix)
    if abs(exponent) > _MAX_EXPONENT:
        raise ValueError(SUFFIX)

    precision = -1
    scale = 0
    mantissa = 1
    if fmt is QuantityFormat.BINARY_SI:
        if exponent >= 0 and not denom:
            mantissa = 1 << exponent
            precision = 15 - len(num) - int(exponent * 3 / 10) - 1
    else:
        scale = exponent
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))

    if precision >= 0:
        scale -= len(denom)
        if scale >= _NANO:
            shifted = int(num + denom)
            product = shifted * mantissa
            if shifted <= _INT64_MAX and product <= _INT64_MAX:
                return Quantity(product if positive else -product, scale, fmt, True, text)

    if not any(c.isdigit() for c in value):
        raise ValueError(NUMERIC)  # inf.Dec cannot read ".", "+." ...
    unscaled = int(num + denom)
    dec_exponent = -len(denom)
    if base == 10:
        dec_exponent += exponent
    else:
        unscaled <<= exponent
    # Round non-zero values up (away from zero) to nano; the decimal form keeps scale -9.
    if unscaled != 0:
        if dec_exponent < _NANO:
            div = 10 ** (_NANO - dec_exponent)
            unscaled = -(-unscaled // div)
        else:
            unscaled *= 10 ** (dec_exponent - _NANO)
        dec_exponent = _NANO
    if fmt is QuantityFormat.BINARY_SI:
        if unscaled * Fraction(10) ** dec_exponent > _INT64_MAX:
            unscaled, dec_exponent = _INT64_MAX, 0
        elif unscaled > 0 and dec_exponent < 0 and unscaled < 10**-dec_exponent:
            fmt = QuantityFormat.DECIMAL_SI  # below 1: no binary suffix can say it
    return Quantity(unscaled if positive else -unscaled, dec_exponent, fmt, False, text)


def from_milli(milli: int) -> Quantity:
    """``resource.NewMilliQuantity(milli, DecimalSI)``."""
    mantissa, exponent = canonical(milli, -3)
    return Quantity(milli, -3, QuantityFormat.DECIMAL_SI, True, decimal_si(mantissa, exponent))


def _wrap64(x: int) -> int:
    return (x + (1 << 63)) % (1 << 64) - (1 << 63)


def _multiply_scale(a: int, b: int) -> tuple[int, bool]:
    """apimachinery's ``int64MultiplyScale``: the wrapped product and whether it fits."""
    if a in (0, 1):
        return a * b, True
    if a == _INT64_MIN:
        return 0, False
    c = _wrap64(a * b)
    return c, go_div(c, b) == a


def _fast_scaled_int64(value: int, scale: int, new_scale: int) -> int:
    """``int64Amount.AsScaledInt64``, result only."""
    if scale < new_scale:
        return _negative_scale(value, new_scale - scale)
    shift = scale - new_scale
    if shift == 0:
        return value
    if shift in (1, 2, 3, 6, 9):
        return _multiply_scale(value, 10**shift)[0]
    for _ in range(shift):
        value, ok = _multiply_scale(value, 10)
        if not ok:
            return 0
    return value


def _negative_scale(base: int, scale: int) -> int:
    """``negativeScaleInt64``: divide by ``10**scale``, rounding away from zero."""
    value = base
    fraction = False
    for _ in range(scale):
        if not fraction and value % 10 != 0:
            fraction = True
        value = go_div(value, 10)
        if value == 0:
            if fraction:
                return 1 if base > 0 else -1
            return 0
    if fraction:
        value += 1 if base > 0 else -1
    return value


def _dec_scaled_int64(unscaled: int, inf_scale: int, new_inf_scale: int) -> int:
    """apimachinery's ``scaledValue`` for the decimal form (``inf_scale`` counts decimals)."""
    dif = inf_scale - new_inf_scale
    low64 = _wrap64(unscaled)
    if dif == 0:
        return low64
    if dif < 0:
        return _wrap64(low64 * 10**-dif)
    if unscaled < _INT64_MAX and dif < 19:
        divide = 10**dif
        result = go_div(low64, divide)
        return result + 1 if low64 - result * divide != 0 else result
    result, remainder = divmod(unscaled, 10**dif)
    return _wrap64(result + 1 if remainder else result)


def canonical(mantissa: int, exponent: int) -> tuple[int, int]:
    """``mantissa * 10**exponent`` with trailing zeros moved into an exponent that is a
    multiple of 3, as ``AsCanonicalBytes`` does (``250000000, -9`` -> ``250, -3``)."""
    if mantissa == 0:
        return 0, 0
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    if shift:
        mantissa *= 10**shift
        exponent -= shift
    return mantissa, exponent


def decimal_si(mantissa: int, exponent: int) -> str:
    """Canonical DecimalSI text of ``mantissa * 10**exponent`` (``250000000, -9`` -> ``250m``)."""
    mantissa, exponent = canonical(mantissa, exponent)
    if mantissa == 0:
        return "0"
    if exponent > 18:
        mantissa *= 10 ** (exponent - 18)
        exponent = 18
    if exponent < -9:  # pragma: no cover - parsed quantities never go below nano
        mantissa = -(-mantissa // 10 ** (-9 - exponent))
        exponent = -9
    return f"{mantissa}{_SI_NAMES[exponent]}"


def milli_text(milli: int) -> str:
    """The canonical text of a milli-value (``1500`` -> ``1500m``, ``2000`` -> ``2``)."""
    return decimal_si(milli, -3)


def format_quantity(value: Fraction | int, fmt: QuantityFormat) -> str:
    """``Quantity.String()`` of an exact value in a format: the canonical text apimachinery
    prints (``1536Mi``, ``1500m``, ``2``, ``1e3``).

    As ``CanonicalizeBytes`` does, a binary value below 1024 in magnitude or not a whole
    number is shown in DecimalSI; a whole binary value takes the largest power-of-1024
    suffix that divides it. Decimal values below nano are rounded up to nano.
    """
    value = Fraction(value)
    if fmt is QuantityFormat.BINARY_SI and abs(value) >= 1024 and value.denominator == 1:
        amount, exponent = int(value), 0
        while exponent < len(_BINARY_NAMES) - 1 and amount % 1024 == 0:
            amount //= 1024
            exponent += 1
        return f"{amount}{_BINARY_NAMES[exponent]}"
    nano = value * 10**9
    units = nano.numerator // nano.denominator
    if units * nano.denominator != nano.numerator:
        units += 1  # round up to nano, as inf.Dec's rounding does for display
    if fmt is QuantityFormat.DECIMAL_EXPONENT:
        mantissa, exponent = canonical(units, _NANO)
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    sign = "-" if units < 0 else ""
    return sign + decimal_si(abs(units), _NANO)


def canonical_text(q: Quantity) -> str:
    """What the API server prints for a parsed quantity (``0.5`` -> ``500m``)."""
    return format_quantity(q.value, q.format)


_BINARY_NAMES = ("", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
