"""Go's ``fmt.Sprintf``, ``fmt.Sprint`` and ``fmt.Sprintln``, byte for byte.

Alert templates call ``printf``, ``print`` and ``println`` and Prometheus' ``humanize``
functions format with ``%.4g``; this module is Go's ``fmt`` package (1.19 - 1.25 agree on
everything here) over Python values that stand for Go values:

==========================  =====================================================
Python                      Go
==========================  =====================================================
``str``                     ``string`` (:class:`NamedString` for named string types)
``bool``                    ``bool``
``int``                     ``int`` (:class:`Uint8`, :class:`Int64`, :class:`Uint64`)
``float``                   ``float64``
``None``                    ``nil``
:class:`GoMap`              ``map[K]V``, printed in ``fmtsort`` key order
``list`` / ``tuple``        a slice (:class:`GoSlice` for a named slice type)
:class:`GoStruct`           a struct or a pointer to one (``&{...}``)
:class:`GoStringer`         a value with a ``String()`` method
==========================  =====================================================

Also here, until they move to :mod:`kubeprom.model.gofmt`: ``strconv.FormatFloat``
(:func:`format_float`), ``strconv.ParseFloat`` (:func:`parse_float`), ``QuoteToASCII``,
``QuoteRune`` and ``CanBackquote``.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from kubeprom.model.gofmt import format_f, format_g, quote

__all__ = [
    "GoMap",
    "GoSlice",
    "GoStringer",
    "GoStruct",
    "Int64",
    "NamedString",
    "ParseFloatError",
    "Uint8",
    "Uint64",
    "can_backquote",
    "fmtsort_key",
    "format_float",
    "go_type_name",
    "parse_float",
    "quote_ascii",
    "quote_rune",
    "sprint",
    "sprintf",
    "sprintln",
]

_MAX_RUNE = 0x10FFFF
_RUNE_ERROR = "\ufffd"
_TOO_LARGE = 1_000_000  # fmt's limit on widths and precisions


# ---- Go values ---------------------------------------------------------------------------------
class Uint8(int):
    """A Go ``uint8`` (a byte, as ``index "abc" 0`` yields)."""

    go_type = "uint8"


class Int64(int):
    """A Go ``int64``."""

    go_type = "int64"


class Uint64(int):
    """A Go ``uint64``."""

    go_type = "uint64"


_UNSIGNED = (Uint8, Uint64)


class NamedString(str):
    """A value of a named string type, e.g. html/template's ``template.HTML``."""

    __slots__ = ("go_type",)
    go_type: str

    def __new__(cls, value: str, go_type: str) -> NamedString:
        obj = super().__new__(cls, value)
        obj.go_type = go_type
        return obj


class GoMap(dict[object, object]):
    """A Go map; ``go_type`` is its type (``map[string]string``), ``zero`` its element's zero."""

    __slots__ = ("go_type", "zero")

    def __init__(self, items: Mapping[Any, object], go_type: str, zero: object) -> None:
        super().__init__(items)
        self.go_type = go_type
        self.zero = zero


class GoSlice(list[object]):
    """A value of a named slice type (e.g. Prometheus' ``template.queryResult``)."""

    __slots__ = ("elem_type", "go_type")

    def __init__(self, items: Sequence[object], go_type: str, elem_type: str) -> None:
        super().__init__(items)
        self.go_type = go_type
        self.elem_type = elem_type


@runtime_checkable
class GoStringer(Protocol):
    """A Go value whose type has a ``String() string`` method."""

    go_type: str

    def go_string(self) -> str: ...


@runtime_checkable
class GoStruct(Protocol):
    """A Go struct, or a pointer to one when ``go_pointer`` is true."""

    go_type: str
    go_pointer: bool

    def go_fields(self) -> Sequence[tuple[str, object]]: ...


def go_type_name(v: object) -> str:
    """``reflect.TypeOf(v).String()``; ``nil`` for None."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    name = getattr(v, "go_type", None)
    if isinstance(name, str):
        return name
    if isinstance(v, str):
        return "string"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    return type(v).__name__


# ---- strconv -----------------------------------------------------------------------------------
def format_float(x: float, fmt: str, prec: int) -> str:
    """``strconv.FormatFloat(x, fmt, prec, 64)`` for fmt in ``b e E f g G x X``."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if fmt == "b":
        return _format_b(x)
    if fmt in "xX":
        return _format_x(x, fmt, prec)
    if prec < 0:
        if fmt in "gG":
            out = format_g(x)
        elif fmt == "f":
            out = format_f(x)
            if out == "0" and math.copysign(1, x) < 0:
                out = "-0"
        else:
            out = _shortest_e(x)
        return out.upper() if fmt in "EG" else out
    out = f"{x:.{max(prec, 1)}g}" if fmt in "gG" else f"{x:.{prec}{fmt.lower()}}"
    return out.upper() if fmt in "EG" else out


def _shortest_e(x: float) -> str:
    r = repr(abs(x))  # shortest round-trip digits
    mant, _, exp = r.partition("e")
    digits = mant.replace(".", "")
    point = mant.index(".") if "." in mant else len(mant)
    e = int(exp) if exp else 0
    lead = len(digits) - len(digits.lstrip("0"))
    digits = digits.strip("0") or "0"
    e += point - lead - 1
    if digits == "0":
        e = 0
    body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    sign = "-" if math.copysign(1, x) < 0 else ""
    return f"{sign}{body}e{'-' if e < 0 else '+'}{abs(e):02d}"


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
    neg, mant, exp = _bits(x)
    exp -= 52
    return f"{'-' if neg else ''}{mant}p{'+' if exp >= 0 else ''}{exp}"


def _format_x(x: float, fmt: str, prec: int) -> str:
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


class ParseFloatError(ValueError):
    """``strconv.ParseFloat``'s ``*NumError``; ``str()`` is Go's text."""


_DEC_FLOAT = re.compile(r"[+-]?(?:[0-9_]+\.?[0-9_]*|\.[0-9_]+)(?:[eE][+-]?[0-9][0-9_]*)?\Z")
_HEX_FLOAT = re.compile(
    r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9][0-9_]*\Z"
)


def _underscore_ok(s: str) -> bool:
    """strconv.underscoreOK: underscores only between digits (or after a base prefix)."""
    saw = "^"
    if s[:1] in ("+", "-"):
        s = s[1:]
    i = 0
    hexa = False
    if len(s) >= 2 and s[0] == "0" and s[1] in "bBoOxX":
        i, saw, hexa = 2, "0", s[1] in "xX"
    for c in s[i:]:
        if c.isdigit() or (hexa and c in "abcdefABCDEF"):
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
    if not (hexa or _DEC_FLOAT.match(s)) or ("_" in s and not _underscore_ok(s)):
        raise ParseFloatError(f"strconv.ParseFloat: parsing {quote(s)}: invalid syntax")
    text = s.replace("_", "")
    try:
        value = float.fromhex(text) if hexa else float(text)
    except OverflowError:
        value = math.inf if not text.startswith("-") else -math.inf
    if math.isinf(value):
        raise ParseFloatError(f"strconv.ParseFloat: parsing {quote(s)}: value out of range")
    return value


def can_backquote(s: str) -> bool:
    """``strconv.CanBackquote``: a single-line raw string literal can hold s unchanged."""
    for ch in s:
        c = ord(ch)
        if (c < 0x20 and ch != "\t") or ch in "`\x7f\ufeff" or 0xDC80 <= c <= 0xDCFF:
            return False
    return True


def quote_ascii(s: str) -> str:
    """``strconv.QuoteToASCII``: like :func:`~kubeprom.model.gofmt.quote`, non-ASCII escaped."""
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
    if r > _MAX_RUNE or 0xD800 <= r <= 0xDFFF or r < 0:
        r = 0xFFFD
    ch = chr(r)
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    body = (quote_ascii(ch) if ascii_only else quote(ch))[1:-1]
    return f"'{body}'"


# ---- fmt ---------------------------------------------------------------------------------------
def sprintf(format_: str, *args: object) -> str:
    """``fmt.Sprintf``."""
    p = _Printer()
    p.do_printf(format_, args)
    return "".join(p.buf)


def sprint(*args: object) -> str:
    """``fmt.Sprint``: spaces between operands when neither is a string."""
    p = _Printer()
    prev_string = False
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            p.buf.append(" ")
        p.print_arg(arg, "v")
        prev_string = is_string
    return "".join(p.buf)


def sprintln(*args: object) -> str:
    """``fmt.Sprintln``: spaces between all operands and a trailing newline."""
    p = _Printer()
    for i, arg in enumerate(args):
        if i > 0:
            p.buf.append(" ")
        p.print_arg(arg, "v")
    p.buf.append("\n")
    return "".join(p.buf)


def fmtsort_key(k: object) -> tuple[int, object]:
    """fmtsort's order for the key types templates build: NaN first, then numbers, strings."""
    if isinstance(k, float) and math.isnan(k):
        return (0, 0)
    if isinstance(k, int | float):
        return (1, k)
    return (2, str(k))


class _Printer:
    """One ``pp``: the output buffer and the flags of the verb being formatted."""

    __slots__ = (
        "buf",
        "erroring",
        "good_arg_num",
        "minus",
        "plus",
        "plus_v",
        "prec",
        "prec_present",
        "reordered",
        "sharp",
        "sharp_v",
        "space",
        "wid",
        "wid_present",
        "zero",
    )

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.erroring = False
        self.reordered = False
        self.good_arg_num = True
        self.clear_flags()

    def clear_flags(self) -> None:
        self.wid_present = self.prec_present = False
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.wid = self.prec = 0

    # -- padding (fmt.pad / writePadding)
    def _padding(self, n: int) -> str:
        if n <= 0:
            return ""
        return ("0" if self.zero and not self.minus else " ") * n

    def pad(self, s: str) -> None:
        if not self.wid_present or self.wid == 0:
            self.buf.append(s)
            return
        fill = self._padding(self.wid - len(s))
        self.buf.append(s + fill if self.minus else fill + s)

    def pad_spaces(self, s: str) -> None:
        zero, self.zero = self.zero, False
        self.pad(s)
        self.zero = zero

    # -- integers (fmt.fmtInteger)
    def fmt_integer(self, v: int, base: int, verb: str, upper: bool = False) -> None:
        negative = v < 0
        u = -v if negative else v
        prec = 0
        if self.prec_present:
            prec = self.prec
            if prec == 0 and u == 0:
                zero, self.zero = self.zero, False
                self.buf.append(self._padding(self.wid))
                self.zero = zero
                return
        elif self.zero and not self.minus and self.wid_present:
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        spec = {10: "d", 16: "X" if upper else "x", 8: "o", 2: "b"}[base]
        digits = format(u, spec).rjust(prec, "0")
        if self.sharp:
            if base == 2:
                digits = "0b" + digits
            elif base == 8 and digits[0] != "0":
                digits = "0" + digits
            elif base == 16:
                digits = ("0X" if upper else "0x") + digits
        if verb == "O":
            digits = "0o" + digits
        if negative:
            digits = "-" + digits
        elif self.plus:
            digits = "+" + digits
        elif self.space:
            digits = " " + digits
        self.pad_spaces(digits)

    def fmt_unicode(self, u: int) -> None:
        prec = self.prec if self.prec_present and self.prec > 4 else 4
        text = "U+" + format(u, "X").rjust(prec, "0")
        if self.sharp and 0 <= u <= _MAX_RUNE and chr(u).isprintable():
            text += f" '{chr(u)}'"
        self.pad_spaces(text)

    def fmt_c(self, u: int) -> None:
        ok = 0 <= u <= _MAX_RUNE and not 0xD800 <= u <= 0xDFFF
        self.pad(chr(u) if ok else _RUNE_ERROR)

    # -- strings
    def truncate(self, s: str) -> str:
        return s[: self.prec] if self.prec_present else s

    def fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.sharp and can_backquote(s):
            self.pad(f"`{s}`")
        else:
            self.pad(quote_ascii(s) if self.plus else quote(s))

    def fmt_sx(self, s: str, upper: bool) -> None:
        data = s.encode("utf-8", "surrogateescape")
        if self.prec_present and self.prec < len(data):
            data = data[: self.prec]
        if not data:
            if self.wid_present:
                self.buf.append(self._padding(self.wid))
            return
        hexd = data.hex().upper() if upper else data.hex()
        x = "X" if upper else "x"
        pairs = [hexd[i : i + 2] for i in range(0, len(hexd), 2)]
        if self.space:
            body = " ".join(f"0{x}{p}" if self.sharp else p for p in pairs)
        else:
            body = (f"0{x}" if self.sharp else "") + "".join(pairs)
        if self.wid_present and self.wid > len(body):
            fill = self._padding(self.wid - len(body))
            body = body + fill if self.minus else fill + body
        self.buf.append(body)

    def fmt_string(self, v: str, verb: str, arg: object) -> None:
        if verb == "v":
            if self.sharp_v:
                self.fmt_q(v)
            else:
                self.pad(self.truncate(v))
        elif verb == "s":
            self.pad(self.truncate(v))
        elif verb in "xX":
            self.fmt_sx(v, verb == "X")
        elif verb == "q":
            self.fmt_q(v)
        else:
            self.bad_verb(verb, arg)

    # -- floats (fmt.fmtFloat)
    def fmt_float(self, v: float, verb: str, arg: object) -> None:
        if verb == "v":
            self._float(v, "g", -1)
        elif verb in ("b", "g", "G", "x", "X"):
            self._float(v, verb, -1)
        elif verb in ("f", "e", "E"):
            self._float(v, verb, 6)
        elif verb == "F":
            self._float(v, "f", 6)
        else:
            self.bad_verb(verb, arg)

    def _float(self, v: float, verb: str, prec: int) -> None:
        if self.prec_present:
            prec = self.prec
        num = format_float(v, verb, prec)
        if num[0] not in "+-":
            num = "+" + num
        if self.space and num[0] == "+" and not self.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not self.space and not self.plus:
                num = num[1:]
            self.pad_spaces(num)
            return
        if self.sharp and verb != "b":
            num = self._sharp_float(num, verb, prec)
        if self.plus or num[0] != "+":
            if self.zero and not self.minus and self.wid_present and self.wid > len(num):
                self.buf.append(num[0] + self._padding(self.wid - len(num)) + num[1:])
                return
            self.pad(num)
            return
        self.pad(num[1:])

    @staticmethod
    def _sharp_float(num: str, verb: str, prec: int) -> str:
        digits = 0
        if verb in ("v", "g", "G", "x"):
            digits = 6 if prec == -1 else prec
        tail = ""
        has_point = False
        saw_nonzero = False
        i = 1
        while i < len(num):
            c = num[i]
            if c == ".":
                has_point = True
            elif c in "pP" or (c in "eE" and verb not in "xX"):
                tail = num[i:]
                num = num[:i]
                break
            else:
                if c != "0":
                    saw_nonzero = True
                if saw_nonzero:
                    digits -= 1
            i += 1
        if not has_point:
            if len(num) == 2 and num[1] == "0":
                digits -= 1
            num += "."
        if digits > 0:
            num += "0" * digits
        return num + tail

    def fmt_complex(self, v: complex, verb: str, arg: object) -> None:
        if verb not in "vbgGxXfFeE":
            self.bad_verb(verb, arg)
            return
        plus = self.plus
        self.buf.append("(")
        self.fmt_float(v.real, verb, arg)
        self.plus = True
        self.fmt_float(v.imag, verb, arg)
        self.buf.append("i)")
        self.plus = plus

    # -- dispatch (pp.printArg / printValue)
    def bad_verb(self, verb: str, arg: object) -> None:
        self.erroring = True
        self.buf.append(f"%!{verb}(")
        if arg is None:
            self.buf.append("<nil>")
        else:
            self.buf.append(go_type_name(arg) + "=")
            self.print_arg(arg, "v")
        self.buf.append(")")
        self.erroring = False

    def fmt_int_verb(self, v: int, verb: str, arg: object) -> None:
        if verb in ("v", "d"):
            if verb == "v" and self.sharp_v and isinstance(v, _UNSIGNED):
                sharp, self.sharp = self.sharp, True
                self.fmt_integer(v, 16, "v")
                self.sharp = sharp
            else:
                self.fmt_integer(v, 10, verb)
        elif verb == "b":
            self.fmt_integer(v, 2, verb)
        elif verb in ("o", "O"):
            self.fmt_integer(v, 8, verb)
        elif verb in ("x", "X"):
            self.fmt_integer(v, 16, verb, upper=verb == "X")
        elif verb == "c":
            self.fmt_c(v)
        elif verb == "q":
            self.pad(quote_rune(v, ascii_only=self.plus))
        elif verb == "U":
            self.fmt_unicode(v)
        else:
            self.bad_verb(verb, arg)

    def print_arg(self, arg: object, verb: str, depth: int = 0) -> None:
        if arg is None:
            if verb in ("T", "v"):
                self.pad("<nil>")
            else:
                self.bad_verb(verb, arg)
            return
        if verb == "T":
            self.pad(self.truncate(go_type_name(arg)))
            return
        if isinstance(arg, bool):
            if verb in ("t", "v"):
                self.pad("true" if arg else "false")
            else:
                self.bad_verb(verb, arg)
        elif isinstance(arg, float):
            self.fmt_float(arg, verb, arg)
        elif isinstance(arg, int):
            self.fmt_int_verb(arg, verb, arg)
        elif isinstance(arg, NamedString) or type(arg) is str:
            self.fmt_string(str(arg), verb, arg)
        elif isinstance(arg, complex):
            self.fmt_complex(arg, verb, arg)
        elif isinstance(arg, GoStringer) and not self.erroring and verb in "vsxXq":
            self.fmt_string(arg.go_string(), verb, arg)
        elif isinstance(arg, Mapping):
            self.print_map(arg, verb, depth)
        elif isinstance(arg, GoStruct):
            self.print_struct(arg, verb, depth)
        elif isinstance(arg, list | tuple):
            self.print_list(arg, verb, depth)
        else:
            self.pad(f"?{go_type_name(arg)}?")

    def print_map(self, m: Mapping[object, object], verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(go_type_name(m) + "{")
        else:
            self.buf.append("map[")
        for i, key in enumerate(sorted(m, key=fmtsort_key)):
            if i > 0:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_arg(key, verb, depth + 1)
            self.buf.append(":")
            self.print_arg(m[key], verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    def print_struct(self, s: GoStruct, verb: str, depth: int) -> None:
        if s.go_pointer and depth == 0:
            self.buf.append("&")
        if self.sharp_v:
            self.buf.append(s.go_type.lstrip("*"))
        self.buf.append("{")
        for i, (name, value) in enumerate(s.go_fields()):
            if i > 0:
                self.buf.append(", " if self.sharp_v else " ")
            if self.plus_v or self.sharp_v:
                self.buf.append(name + ":")
            self.print_arg(value, verb, depth + 1)
        self.buf.append("}")

    def print_list(self, items: Sequence[object], verb: str, depth: int) -> None:
        if self.sharp_v:
            self.buf.append(go_type_name(items) + "{")
        else:
            self.buf.append("[")
        for i, item in enumerate(items):
            if i > 0:
                self.buf.append(", " if self.sharp_v else " ")
            self.print_arg(item, verb, depth + 1)
        self.buf.append("}" if self.sharp_v else "]")

    # -- the format string (pp.doPrintf)
    def _arg_number(self, arg_num: int, fmt: str, i: int, num_args: int) -> tuple[int, int, bool]:
        if i >= len(fmt) or fmt[i] != "[":
            return arg_num, i, False
        self.reordered = True
        index, width, ok = _parse_arg_number(fmt[i:])
        if ok and 0 <= index < num_args:
            return index, i + width, True
        self.good_arg_num = False
        return arg_num, i + width, ok

    def do_printf(self, fmt: str, a: Sequence[object]) -> None:
        end = len(fmt)
        arg_num = 0
        after_index = False
        self.reordered = False
        i = 0
        while i < end:
            self.good_arg_num = True
            j = fmt.find("%", i)
            if j < 0:
                self.buf.append(fmt[i:])
                break
            if j > i:
                self.buf.append(fmt[i:j])
            i = j + 1
            self.clear_flags()
            simple = False
            while i < end:
                c = fmt[i]
                if c == "#":
                    self.sharp = True
                elif c == "0":
                    self.zero = True
                elif c == "+":
                    self.plus = True
                elif c == "-":
                    self.minus = True
                elif c == " ":
                    self.space = True
                else:
                    if "a" <= c <= "z" and arg_num < len(a):
                        if c == "v":
                            self.sharp_v, self.sharp = self.sharp, False
                            self.plus_v, self.plus = self.plus, False
                        self.print_arg(a[arg_num], c)
                        arg_num += 1
                        i += 1
                        simple = True
                    break
                i += 1
            if simple:
                continue
            arg_num, i, after_index = self._arg_number(arg_num, fmt, i, len(a))
            if i < end and fmt[i] == "*":
                i += 1
                self.wid, self.wid_present, arg_num = _int_from_arg(a, arg_num)
                if not self.wid_present:
                    self.buf.append("%!(BADWIDTH)")
                if self.wid < 0:
                    self.wid = -self.wid
                    self.minus = True
                    self.zero = False
                after_index = False
            else:
                self.wid, self.wid_present, i = _parse_num(fmt, i, end)
                if after_index and self.wid_present:
                    self.good_arg_num = False
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:
                    self.good_arg_num = False
                arg_num, i, after_index = self._arg_number(arg_num, fmt, i, len(a))
                if i < end and fmt[i] == "*":
                    i += 1
                    self.prec, self.prec_present, arg_num = _int_from_arg(a, arg_num)
                    if self.prec < 0:
                        self.prec, self.prec_present = 0, False
                    if not self.prec_present:
                        self.buf.append("%!(BADPREC)")
                    after_index = False
                else:
                    self.prec, self.prec_present, i = _parse_num(fmt, i, end)
                    if not self.prec_present:
                        self.prec, self.prec_present = 0, True
            if not after_index:
                arg_num, i, after_index = self._arg_number(arg_num, fmt, i, len(a))
            if i >= end:
                self.buf.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":
                self.buf.append("%")
            elif not self.good_arg_num:
                self.buf.append(f"%!{verb}(BADINDEX)")
            elif arg_num >= len(a):
                self.buf.append(f"%!{verb}(MISSING)")
            else:
                if verb == "v":
                    self.sharp_v, self.sharp = self.sharp, False
                    self.plus_v, self.plus = self.plus, False
                self.print_arg(a[arg_num], verb)
                arg_num += 1
        if not self.reordered and arg_num < len(a):
            self.clear_flags()
            self.buf.append("%!(EXTRA ")
            for k, arg in enumerate(a[arg_num:]):
                if k > 0:
                    self.buf.append(", ")
                if arg is None:
                    self.buf.append("<nil>")
                else:
                    self.buf.append(go_type_name(arg) + "=")
                    self.print_arg(arg, "v")
            self.buf.append(")")


def _parse_num(s: str, start: int, end: int) -> tuple[int, bool, int]:
    """fmt.parsenum: the decimal number at s[start:end], whether there was one, where it ends."""
    num = 0
    isnum = False
    i = start
    while i < end and "0" <= s[i] <= "9":
        if num > _TOO_LARGE or num < -_TOO_LARGE:
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


def _parse_arg_number(fmt: str) -> tuple[int, int, bool]:
    if len(fmt) < 3:
        return 0, 1, False
    for i in range(1, len(fmt)):
        if fmt[i] == "]":
            width, ok, newi = _parse_num(fmt, 1, i)
            if not ok or newi != i:
                return 0, i + 1, False
            return width - 1, i + 1, True
    return 0, 1, False


def _int_from_arg(a: Sequence[object], arg_num: int) -> tuple[int, bool, int]:
    if arg_num >= len(a):
        return 0, False, arg_num
    v = a[arg_num]
    num, is_int = 0, False
    if isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 63):
        num, is_int = int(v), True
    if num > _TOO_LARGE or num < -_TOO_LARGE:
        num, is_int = 0, False
    return num, is_int, arg_num + 1
