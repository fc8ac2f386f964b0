"""Go's ``fmt.Sprintf``, ``fmt.Sprint`` and ``fmt.Sprintln``, byte for byte.

Alert templates call ``printf``, ``print`` and ``println`` and Prometheus' ``humanize``
functions format with ``%.4g``; this module is Go's ``fmt`` package (1.19 - 1.25 agree on
everything here) over the Python values that stand for Go values
(:mod:`kubeprom.model.govalues`).

The ``strconv`` primitives it formats with (``FormatFloat``, ``Quote`` and its kin) are in
:mod:`kubeprom.model.gofmt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kubeprom.model.gofmt import (
    MAX_RUNE,
    can_backquote,
    fmtsort_key,
    format_float,
    quote,
    quote_ascii,
    quote_rune,
)
from kubeprom.model.govalues import (
    UNSIGNED,
    GoStringer,
    GoStruct,
    NamedString,
    go_type_name,
)

__all__ = [
    "sprint",
    "sprintf",
    "sprintln",
]

_RUNE_ERROR = "\ufffd"
_TOO_LARGE = 1_000_000  # fmt's limit on widths and precisions


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
        if self.sharp and 0 <= u <= MAX_RUNE and chr(u).isprintable():
            text += f" '{chr(u)}'"
        self.pad_spaces(text)

    def fmt_c(self, u: int) -> None:
        ok = 0 <= u <= MAX_RUNE and not 0xD800 <= u <= 0xDFFF
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
        self.erroring = True  # no String() methods while reporting a bad verb
        self.buf.append(f"%!{verb}(")
        self.print_typed(arg)
        self.buf.append(")")
        self.erroring = False

    def print_typed(self, arg: object) -> None:
        """``<nil>``, or the Go type, ``=`` and the value (``%!`` reports and EXTRA)."""
        if arg is None:
            self.buf.append("<nil>")
        else:
            self.buf.append(go_type_name(arg) + "=")
            self.print_arg(arg, "v")

    def fmt_int_verb(self, v: int, verb: str, arg: object) -> None:
        if verb in ("v", "d"):
            if verb == "v" and self.sharp_v and isinstance(v, UNSIGNED):
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
                self.print_typed(arg)
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
